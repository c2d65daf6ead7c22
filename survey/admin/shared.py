"""What several staff pages share: the labels they show, and the campaign a URL names."""

from __future__ import annotations

from flask import abort

from ..campaigns import STATUS_LABELS
from ..db import get_session
from ..models import Campaign

__all__ = ["ROLE_LABELS", "STATUS_LABELS", "campaign_or_404"]

ROLE_LABELS = {
    "admin": "Quản trị",
    "analyst": "Chuyên viên phân tích",
    "enumerator": "Điều tra viên",
    "viewer": "Lãnh đạo (xem kết quả)",
}


def campaign_or_404(campaign_id: int) -> Campaign:
    """Return the campaign of the URL, or answer 404."""
    campaign = get_session().get(Campaign, campaign_id)
    if campaign is None:
        abort(404)
    return campaign
