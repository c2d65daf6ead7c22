"""Spoken prompts: normalise an uploaded or recorded clip into the one format the kiosk plays.

Every clip, whatever the microphone or file it came from, leaves here the same way:

1. **decode** with PyAV (FFmpeg inside the wheel, no program to install): only audio containers
   (WebM/Ogg from a browser's recorder, MP3, WAV, M4A/AAC, FLAC, AMR/3GP from phones) are opened;
2. mix to **mono, 48 kHz**, and **trim** the silence before and after the speech (quieter than
   ``SILENCE_DBFS``, keeping ``PAD_SECONDS`` around it);
3. measure the **integrated loudness** as ITU-R BS.1770-4 defines it (K-weighting, 400 ms blocks with
   75 % overlap, absolute gate −70 LUFS, relative gate −10 LU) and apply one gain that brings it to
   ``TARGET_LUFS`` (−16 LUFS, the usual target for speech played on phones and tablets), lowered if
   needed so that no sample peaks above ``PEAK_DBFS`` (−1 dBFS): a clip with sharp peaks ends a little
   quieter than the target rather than clipped;
4. **encode** as MP3, mono, ``BITRATE`` bit/s: every tablet browser (Safari on iPad included) and ODK
   Collect play it.

A file that is not audio, has no sound, lasts more than ``MAX_SECONDS`` once trimmed or is larger than
``MAX_UPLOAD_BYTES`` is refused with :class:`AudioError`, whose message is Vietnamese first.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 48_000
TARGET_LUFS = -16.0
PEAK_DBFS = -1.0
SILENCE_DBFS = -45.0  # a 10 ms window quieter than this (RMS) is silence, for trimming
PAD_SECONDS = 0.15
MAX_SECONDS = 60.0  # a prompt longer than this once trimmed is refused
MAX_DECODE_SECONDS = 180.0  # decoding stops here: a longer file is refused without reading it all
MIN_SECONDS = 0.3
MAX_UPLOAD_BYTES = 10_000_000
BITRATE = 64_000
OUTPUT_MIME = "audio/mpeg"
OUTPUT_EXT = "mp3"
# Containers FFmpeg may open here (its format names); a video or image file is not a prompt.
CONTAINERS = {"ogg", "webm", "matroska", "mp3", "wav", "mov", "mp4", "m4a", "3gp", "aac", "flac", "amr"}

# K-weighting at 48 kHz (ITU-R BS.1770-4, table 1 and 2): a high shelf, then the RLB high-pass.
_SHELF = ([1.53512485958697, -2.69169618940638, 1.19839281085285], [1.0, -1.69065929318241, 0.73248077421585])
_HIGHPASS = ([1.0, -2.0, 1.0], [1.0, -1.99004745483398, 0.99007225036621])


class AudioError(ValueError):
    """A clip that cannot become a prompt; the message says why, in Vietnamese then English."""


@dataclass(frozen=True)
class NormalisedClip:
    data: bytes
    mime: str
    ext: str
    duration: float  # seconds, after trimming
    loudness_in: float  # LUFS of the speech as received
    loudness_out: float  # LUFS after the gain (TARGET_LUFS unless the peak limit lowered it)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def normalise(data: bytes) -> NormalisedClip:
    """Decode, trim, loudness-normalise and encode one clip; AudioError for anything unusable."""
    if not data:
        raise AudioError("Tệp âm thanh trống (the file is empty).")
    if len(data) > MAX_UPLOAD_BYTES:
        raise AudioError(
            f"Tệp âm thanh lớn quá {MAX_UPLOAD_BYTES // 1_000_000} MB "
            f"(the file is larger than {MAX_UPLOAD_BYTES // 1_000_000} MB)."
        )
    samples = decode(data)
    samples = trim_silence(samples)
    duration = len(samples) / SAMPLE_RATE
    if duration < MIN_SECONDS:
        raise AudioError(
            "Không nghe thấy tiếng nói trong tệp (no speech found: the clip is silent or too short)."
        )
    if duration > MAX_SECONDS:
        raise AudioError(
            f"Đoạn ghi âm dài {duration:.0f} giây, quá {MAX_SECONDS:.0f} giây cho phép "
            f"(the clip is {duration:.0f} s long, longer than {MAX_SECONDS:.0f} s)."
        )
    loudness_in = integrated_loudness(samples)
    if not np.isfinite(loudness_in):
        raise AudioError("Không nghe thấy tiếng nói trong tệp (no speech found: the clip is silent).")
    gain = 10 ** ((TARGET_LUFS - loudness_in) / 20)
    peak = float(np.max(np.abs(samples))) or 1e-9
    ceiling = 10 ** (PEAK_DBFS / 20)
    gain = min(gain, ceiling / peak)
    out = (samples * gain).astype(np.float32)
    return NormalisedClip(
        data=encode(out),
        mime=OUTPUT_MIME,
        ext=OUTPUT_EXT,
        duration=duration,
        loudness_in=loudness_in,
        loudness_out=loudness_in + 20 * float(np.log10(gain)),
    )


def decode(data: bytes, limit_seconds: float = MAX_DECODE_SECONDS) -> np.ndarray:
    """Return the first audio stream as mono float32 samples at SAMPLE_RATE; AudioError if not audio."""
    import av  # FFmpeg's libraries load in a fraction of a second: only when a clip comes in

    not_audio = AudioError(
        "Tệp này không phải là âm thanh đọc được (not a readable audio file: use MP3, M4A, WAV, OGG or WebM)."
    )
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.FFmpegError, ValueError, OSError, UnicodeDecodeError):
        raise not_audio from None
    try:
        formats = set(container.format.name.split(","))
        if not formats & CONTAINERS or not container.streams.audio:
            raise not_audio
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        chunks: list[np.ndarray] = []
        total = 0
        limit = int(limit_seconds * SAMPLE_RATE)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunk = out.to_ndarray().reshape(-1)
                chunks.append(chunk)
                total += len(chunk)
            if total > limit:
                raise AudioError(
                    f"Đoạn ghi âm dài quá {MAX_SECONDS:.0f} giây "
                    f"(the clip is longer than {MAX_SECONDS:.0f} s)."
                )
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    except AudioError:
        raise
    except (av.FFmpegError, ValueError, OSError, IndexError):
        raise not_audio from None
    finally:
        container.close()
    if not chunks:
        raise AudioError("Tệp âm thanh không có tiếng (the file holds no sound).")
    samples = np.concatenate(chunks).astype(np.float64)
    return np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)


def trim_silence(samples: np.ndarray) -> np.ndarray:
    """Cut the silence before the first and after the last sound, keeping PAD_SECONDS around it."""
    window = SAMPLE_RATE // 100
    n = len(samples) // window
    if n == 0:
        return samples[:0]
    rms = np.sqrt(np.mean(samples[: n * window].reshape(n, window) ** 2, axis=1))
    loud = np.flatnonzero(rms > 10 ** (SILENCE_DBFS / 20))
    if len(loud) == 0:
        return samples[:0]
    pad = int(PAD_SECONDS * SAMPLE_RATE)
    start = max(0, loud[0] * window - pad)
    end = min(len(samples), (loud[-1] + 1) * window + pad)
    return samples[start:end]


def integrated_loudness(samples: np.ndarray) -> float:
    """The integrated loudness (LUFS) of mono samples at SAMPLE_RATE, per ITU-R BS.1770-4; -inf if silent."""
    from scipy.signal import lfilter

    weighted = lfilter(*_HIGHPASS, lfilter(*_SHELF, samples))
    block = int(0.4 * SAMPLE_RATE)
    step = block // 4
    if len(weighted) < block:
        powers = np.array([np.mean(weighted**2)])
    else:
        starts = range(0, len(weighted) - block + 1, step)
        powers = np.array([np.mean(weighted[s : s + block] ** 2) for s in starts])
    with np.errstate(divide="ignore"):
        levels = -0.691 + 10 * np.log10(powers)
    gated = powers[levels > -70.0]
    if len(gated) == 0:
        return float("-inf")
    relative = -0.691 + 10 * np.log10(np.mean(gated)) - 10.0
    with np.errstate(divide="ignore"):
        gated = gated[-0.691 + 10 * np.log10(gated) > relative]
    return float(-0.691 + 10 * np.log10(np.mean(gated)))


def encode(samples: np.ndarray) -> bytes:
    """Encode mono float samples at SAMPLE_RATE as MP3 (BITRATE, constant)."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=SAMPLE_RATE, layout="mono")
        stream.bit_rate = BITRATE
        frame_size = 1152
        clipped = np.clip(samples, -1.0, 1.0).astype(np.float32)
        for start in range(0, len(clipped), frame_size * 8):
            piece = clipped[start : start + frame_size * 8].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(piece, format="flt", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()
