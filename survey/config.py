"""Configuration defaults, layered in create_app: these -> instance/config.py -> SIPAS_* env -> test."""

from __future__ import annotations


class Defaults:
    # The database; None means SQLite in the instance folder (sipas.sqlite).
    DATABASE_URL: str | None = None
    # Required in production (SIPAS_SECRET_KEY; the app refuses to start without it). In development
    # (sipas serve / demo) a random key is generated once and kept in the instance folder.
    SECRET_KEY: str | None = None
    # "development" (sipas demo / serve) or "production" (gunicorn wsgi:app).
    ENV: str = "production"
    MAX_CONTENT_LENGTH = 512 * 1024  # bytes; a response is a few KB, anything larger is refused (413)
    # The upload of a one-stop export of case files (/admin/campaigns/<id>/dossiers): a year of a
    # district's case files is a few MB.
    DOSSIER_UPLOAD_MAX_BYTES = 30 * 1024 * 1024
    # Kiosk behaviour.
    KIOSK_RESET_SECONDS = 8  # thank-you page -> fresh form
    # A form left untouched this long is wiped (answers, drafts, page) so the next person at the shared
    # tablet sees nothing of it; the last KIOSK_IDLE_WARNING_SECONDS show a countdown that a tap stops.
    KIOSK_IDLE_SECONDS = 75
    KIOSK_IDLE_WARNING_SECONDS = 15
    # The same on a respondent's own phone (/k/p/…): the person is the phone's owner, so much longer.
    PHONE_IDLE_SECONDS = 30 * 60
    # A tap on "Tiếp tục"/"Gửi phiếu" of a page nobody touched yet, this soon after it was drawn, is the
    # second half of a double tap on the page before, and is ignored.
    KIOSK_TAP_GUARD_MS = 450
    PROGRESS_POLL_SECONDS = 15  # how often the admin campaign page refreshes its progress table
    # Ranked reports are built in the background (survey.jobs): threads per app process, how long a
    # finished job and its file are kept, when a job whose row stopped moving counts as lost (a restart),
    # and how often its progress page asks.
    REPORT_WORKERS = 2
    REPORT_JOB_KEEP_HOURS = 24
    REPORT_JOB_STALE_SECONDS = 600
    REPORT_POLL_SECONDS = 1.5
    # How often the results dashboard checks for new data while a campaign runs.
    RESULTS_REFRESH_SECONDS = 60
    # Base URL used in kiosk links and QR codes (e.g. https://sipas.trabong.gov.vn); None = from the request.
    PUBLIC_URL: str | None = None
    # Cookies and forms.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Secure always when True; otherwise whenever the request is HTTPS (as seen through TRUSTED_PROXIES).
    SESSION_COOKIE_SECURE = False
    SESSION_COOKIE_NAME = "sipas_session"
    # Staff sessions live in the database (survey.sessions): ended at the latest this long after login,
    # or after this long without a request, whichever comes first.
    SESSION_LIFETIME_SECONDS = 12 * 3600
    SESSION_IDLE_SECONDS = 2 * 3600
    PERMANENT_SESSION_LIFETIME = 12 * 3600
    WTF_CSRF_TIME_LIMIT = 12 * 3600
    # Staff login protection: failures in a row before the account is locked, and for how long.
    LOGIN_MAX_FAILURES = 5
    LOGIN_LOCKOUT_SECONDS = 15 * 60
    # Login attempts (successful ones given back) per client address and per account name within
    # LOGIN_RATE_WINDOW seconds, then 429; counted before the password check, shared by every host.
    LOGIN_RATE_LIMIT = 10
    LOGIN_ACCOUNT_RATE_LIMIT = 20
    LOGIN_RATE_WINDOW = 5 * 60
    # Answer codes ("mỗi hồ sơ một phiếu", survey.codes): the secret both code keys are derived from
    # (SIPAS_ANSWER_CODE_KEY, at least 16 characters; None = the instance file answer_code_key), and
    # the tries of a code per client address and per campaign within CODE_RATE_WINDOW seconds, then 429
    # (a try that admits a form is given back: the limits count wrong codes).
    ANSWER_CODE_KEY: str | None = None
    CODE_RATE_LIMIT = 10
    CODE_CAMPAIGN_RATE_LIMIT = 100
    CODE_RATE_WINDOW = 15 * 60
    # Where those counters live: None = the app database; "redis://host:6379/0" = Redis (pip extra "redis").
    RATELIMIT_STORAGE: str | None = None
    # Reverse proxies in front of the app whose X-Forwarded-* headers are trusted (0: none).
    TRUSTED_PROXIES = 0
