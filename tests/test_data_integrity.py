"""Data that nothing can poison: checksums, content-keyed caches, named bad files, safe downloads.

Every test works on tiny synthetic copies in a temporary folder (a CIFAR-format
image-folder tar set, a few FSDD-style WAV files, local HTTP servers on 127.0.0.1).
"""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile
from PIL import Image

from scaling_core.data import images as images_module
from scaling_core.data import integrity
from scaling_core.data.images import load_cifar10, load_image_tars
from scaling_core.data.integrity import DataError, DownloadError, download, find_sums, sha256_of
from scaling_core.data.speech import load_fsdd

CLASSES = ("cat", "dog", "emu", "fox")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """A cache of this test's own, so content-keyed entries of other tests cannot interfere."""
    monkeypatch.setenv("SCALING_CORE_CACHE", str(tmp_path / "cache"))


def _one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    return message


# ----------------------------------------------------------------------------- CIFAR-format tars


def _write_split_tar(tar_path: Path, split: str, seed: int, per_class: int = 3) -> None:
    """``split/<class>/<i>.png`` members, 8x8 random images, written as an uncompressed tar."""
    import tarfile

    rng = np.random.default_rng(seed)
    staging = tar_path.parent / f".staging-{tar_path.stem}-{seed}"
    for k, name in enumerate(CLASSES):
        folder = staging / split / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{k}{i:03d}.png")
    tmp = tar_path.with_suffix(".tmp")
    with tarfile.open(tmp, "w") as archive:
        archive.add(staging / split, arcname=split)
    os.replace(tmp, tar_path)  # a new file (new inode), like restoring a copy
    for path in sorted(staging.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    staging.rmdir()


def _cifar_dir(root: Path, seed: int = 0, sums: bool = True) -> Path:
    """``root/cifar10/{train-part1,train-part2,test}.tar`` and, if asked, ``root/SHA256SUMS``."""
    folder = root / "cifar10"
    folder.mkdir(parents=True, exist_ok=True)
    for offset, (name, split) in enumerate((("train-part1.tar", "train"), ("train-part2.tar", "train"),
                                            ("test.tar", "test"))):
        _write_split_tar(folder / name, split, seed + offset)
    if sums:
        lines = [f"{sha256_of(path)}  cifar10/{path.name}" for path in sorted(folder.glob("*.tar"))]
        (root / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return root


def _garble(path: Path, start_fraction: float = 0.4, length: int = 2048, seed: int = 7) -> None:
    """Overwrite ``length`` bytes in place with random garbage; the size stays the same."""
    size = path.stat().st_size
    start = int(size * start_fraction)
    with open(path, "r+b") as handle:
        handle.seek(start)
        handle.write(np.random.default_rng(seed).bytes(min(length, size - start)))
    assert path.stat().st_size == size


def test_cifar_garbage_tar_is_a_one_line_checksum_error_naming_the_file(tmp_path):
    data = _cifar_dir(tmp_path / "data")
    good = load_cifar10(data, "test")
    assert good.images.shape == (12, 8, 8, 3) and good.class_names == CLASSES
    _garble(data / "cifar10" / "test.tar")
    with pytest.raises(DataError) as excinfo:
        load_cifar10(data, "test")
    assert _one_line_error(excinfo).startswith("cifar10/test.tar: checksum mismatch")


def test_cifar_garbage_tar_without_checksums_is_still_named(tmp_path):
    data = _cifar_dir(tmp_path / "data", sums=False)
    _garble(data / "cifar10" / "test.tar", start_fraction=0.3, length=4096)
    with pytest.raises(DataError) as excinfo:
        load_cifar10(data, "test")
    assert _one_line_error(excinfo).startswith("cifar10/test.tar: ")


def test_cifar_cache_is_keyed_by_content(tmp_path):
    data = _cifar_dir(tmp_path / "data", sums=False)
    tar = data / "cifar10" / "test.tar"
    first = load_cifar10(data, "test")
    good_copy = tar.read_bytes()
    _write_split_tar(tar, "test", seed=99)  # other pixels, same layout
    assert tar.stat().st_size == len(good_copy)  # same name and size: the old cache key
    other = load_cifar10(data, "test")
    assert not np.array_equal(other.images, first.images)
    tar.write_bytes(good_copy)
    np.testing.assert_array_equal(load_cifar10(data, "test").images, first.images)


def test_restoring_the_good_tar_gives_the_good_data_and_keeps_its_cache(tmp_path):
    data = _cifar_dir(tmp_path / "data")
    tar = data / "cifar10" / "test.tar"
    good = load_cifar10(data, "test")
    cached = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.npz")}
    assert len(cached) == 1
    good_copy = tar.read_bytes()
    _garble(tar)
    with pytest.raises(DataError, match="checksum mismatch"):
        load_cifar10(data, "test")
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.npz")} == cached  # nothing lost
    tar.write_bytes(good_copy)
    restored = load_cifar10(data, "test")
    np.testing.assert_array_equal(restored.images, good.images)
    np.testing.assert_array_equal(restored.labels, good.labels)


@pytest.mark.parametrize("keep", [0.5, "boundary"])
def test_truncated_tar_is_named(tmp_path, keep):
    data = _cifar_dir(tmp_path / "data", sums=False)
    tar = data / "cifar10" / "test.tar"
    blob = tar.read_bytes()
    if keep == "boundary":  # cut exactly before a member header: tarfile alone reads fewer images
        import tarfile

        with tarfile.open(tar) as archive:
            cut = archive.getmembers()[len(archive.getmembers()) // 2].offset
    else:
        cut = int(len(blob) * keep)
    tar.write_bytes(blob[:cut])
    with pytest.raises(DataError) as excinfo:
        load_cifar10(data, "test")
    assert _one_line_error(excinfo).startswith("cifar10/test.tar: truncated tar")


def test_image_tars_name_a_tar_that_is_not_one(tmp_path):
    bad = tmp_path / "part.tar"
    bad.write_bytes(b"not a tar at all" * 100)
    with pytest.raises(DataError, match=r"^part\.tar: not a tar file"):
        load_image_tars([bad], "train", root=tmp_path)


def test_file_hashes_are_cached_per_file_version(tmp_path, monkeypatch):
    data = _cifar_dir(tmp_path / "data")
    an_hour_ago = time.time() - 3600
    for tar in (data / "cifar10").glob("*.tar"):
        os.utime(tar, (an_hour_ago, an_hour_ago))
    calls = []
    real = integrity.sha256_of
    monkeypatch.setattr(integrity, "sha256_of", lambda path, *a: calls.append(Path(path).name) or real(path, *a))
    for _ in range(3):
        load_cifar10(data, "test")
        load_cifar10(data, "train")
    assert sorted(calls) == ["test.tar", "train-part1.tar", "train-part2.tar"]  # once each
    integrity._hash_memory.clear()  # a new process: the digests come from the disk cache
    load_cifar10(data, "test")
    assert len(calls) == 3


def test_images_from_a_folder_without_sums_load_quietly(tmp_path, recwarn):
    data = _cifar_dir(tmp_path / "data", sums=False)
    assert len(load_cifar10(data, "train").labels) == 24
    assert not [w for w in recwarn if "scaling_core" in str(w.filename)]


# ----------------------------------------------------------------------------- FSDD wavs


def _fsdd_dir(root: Path, sums: bool = False) -> Path:
    """``root/fsdd/recordings/{digit}_alice_{index}.wav``: 2 test and 2 train files, 8 kHz 16-bit."""
    folder = root / "fsdd" / "recordings"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("0_alice_0", "1_alice_1", "2_alice_5", "3_alice_6"):
        pcm = (rng.normal(size=4000) * 3000).astype(np.int16)
        scipy.io.wavfile.write(folder / f"{name}.wav", 8000, pcm)
    if sums:
        lines = [f"{sha256_of(p)}  fsdd/recordings/{p.name}" for p in sorted(folder.glob("*.wav"))]
        (root / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return root


def test_fsdd_corrupt_wav_is_named(tmp_path):
    data = _fsdd_dir(tmp_path / "data")
    assert len(load_fsdd(data, "train")) == 2
    (data / "fsdd" / "recordings" / "2_alice_5.wav").write_bytes(b"\x00garbage" * 1000)
    with pytest.raises(DataError) as excinfo:
        load_fsdd(data, "train")
    assert _one_line_error(excinfo).startswith("fsdd/recordings/2_alice_5.wav: not a wav file")
    assert len(load_fsdd(data, "test")) == 2  # the other split does not read it


def test_fsdd_half_length_wav_is_rejected(tmp_path):
    data = _fsdd_dir(tmp_path / "data")
    path = data / "fsdd" / "recordings" / "3_alice_6.wav"
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError) as excinfo:
        load_fsdd(data, "train")
    message = _one_line_error(excinfo)
    assert message.startswith("fsdd/recordings/3_alice_6.wav: truncated wav")
    assert "4000 frames" in message


def test_fsdd_wav_differing_from_its_checksum_is_rejected(tmp_path):
    data = _fsdd_dir(tmp_path / "data", sums=True)
    assert len(load_fsdd(data, "test")) == 2
    path = data / "fsdd" / "recordings" / "1_alice_1.wav"
    rate, pcm = scipy.io.wavfile.read(path)
    scipy.io.wavfile.write(path, rate, pcm[: len(pcm) // 2])  # a whole, valid, but shorter wav
    with pytest.raises(DataError) as excinfo:
        load_fsdd(data, "test")
    assert _one_line_error(excinfo).startswith("fsdd/recordings/1_alice_1.wav: checksum mismatch")


def test_fsdd_stray_file_name_is_named(tmp_path):
    data = _fsdd_dir(tmp_path / "data")
    (data / "fsdd" / "recordings" / "notes.wav").write_bytes(b"")
    with pytest.raises(DataError, match=r"^fsdd/recordings/notes\.wav: not an FSDD recording name"):
        load_fsdd(data, "train")


# ----------------------------------------------------------------------------- downloads


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def _server(handler_body):
    """An HTTP server on 127.0.0.1 in a thread; ``handler_body(handler)`` answers each GET."""
    release = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server API)
            handler_body(self, release)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        release.set()
        server.shutdown()
        server.server_close()


PAYLOAD = b"scaling-core test payload\n" * 4000
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


def _serve(payload: bytes, stall_after: int | None = None, declared: int | None = None):
    def body(handler, release):
        handler.send_response(200)
        handler.send_header("Content-Length", str(declared or len(payload)))
        handler.end_headers()
        handler.wfile.write(payload[:stall_after])
        handler.wfile.flush()
        if stall_after is not None:
            release.wait(10)  # a stalled server: sends nothing more
    return body


def test_download_over_http_verifies_and_renames(tmp_path):
    with _server(_serve(PAYLOAD)) as base:
        path = download(f"{base}/file.bin", PAYLOAD_SHA256, tmp_path / "dl", timeout=5)
    assert path.read_bytes() == PAYLOAD and os.listdir(tmp_path / "dl") == ["file.bin"]


def test_unreachable_download_is_one_line_and_leaves_no_file(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}/cifar-10-python.tar.gz"
    with pytest.raises(DownloadError) as excinfo:
        download(url, PAYLOAD_SHA256, tmp_path / "dl", timeout=5)
    message = _one_line_error(excinfo)
    assert url in message and "data_dir" in message
    assert os.listdir(tmp_path / "dl") == []


@pytest.mark.parametrize("stall_after", [0, 5000])
def test_stalling_download_times_out_and_leaves_no_file(tmp_path, stall_after):
    with _server(_serve(PAYLOAD, stall_after=stall_after)) as base:
        start = time.monotonic()
        with pytest.raises(DownloadError) as excinfo:
            download(f"{base}/file.bin", PAYLOAD_SHA256, tmp_path / "dl", timeout=0.5)
        assert time.monotonic() - start < 5
    message = _one_line_error(excinfo)
    assert "timed out" in message and f"{base}/file.bin" in message and "data_dir" in message
    assert os.listdir(tmp_path / "dl") == []


def test_download_cut_off_by_the_server_leaves_no_file(tmp_path):
    def body(handler, release):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(PAYLOAD)))
        handler.end_headers()
        handler.wfile.write(PAYLOAD[:5000])
        handler.close_connection = True

    with _server(body) as base, pytest.raises(DownloadError) as excinfo:
        download(f"{base}/file.bin", PAYLOAD_SHA256, tmp_path / "dl", timeout=5)
    assert _one_line_error(excinfo).startswith(f"could not download {base}/file.bin: the connection closed after")
    assert os.listdir(tmp_path / "dl") == []


def test_wrong_checksum_download_leaves_no_file_and_keeps_the_cached_copy(tmp_path):
    folder = tmp_path / "dl"
    with _server(_serve(b"tampered" + PAYLOAD[8:])) as base:
        with pytest.raises(DataError) as excinfo:
            download(f"{base}/file.bin", PAYLOAD_SHA256, folder, timeout=5)
        assert _one_line_error(excinfo).startswith(f"checksum mismatch for {base}/file.bin")
        assert os.listdir(folder) == []
        (folder / "file.bin").write_bytes(PAYLOAD)  # a verified copy is never fetched again
        assert download(f"{base}/file.bin", PAYLOAD_SHA256, folder, timeout=5).read_bytes() == PAYLOAD


def test_cifar_download_through_the_loader_times_out(tmp_path):
    with _server(_serve(PAYLOAD, stall_after=0)) as base:
        with pytest.raises(DownloadError, match="timed out"):
            load_cifar10(None, "test", url=f"{base}/cifar.tar.gz", sha256=PAYLOAD_SHA256, timeout=0.5)
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))


def test_file_url_that_is_missing_names_it(tmp_path):
    url = (tmp_path / "absent.tar.gz").as_uri()
    with pytest.raises(DownloadError) as excinfo:
        download(url, PAYLOAD_SHA256, tmp_path / "dl")
    assert url in _one_line_error(excinfo) and os.listdir(tmp_path / "dl") == []


# ----------------------------------------------------------------------------- the shared data folder


def test_shared_data_files_are_listed_in_its_sums(shared_data):
    for name in ("cifar10/test.tar", "multi30k/val.de.gz", "tinyshakespeare/input.txt"):
        found = find_sums(shared_data / name)
        assert found is not None and found[0] == shared_data and found[1] == name
    assert find_sums(shared_data / "fsdd" / "recordings" / "0_george_0.wav") is None  # not listed


def test_images_module_uses_the_checked_download():
    assert images_module.download is integrity.download


def test_multi30k_folder_is_checked_against_its_sums(shared_data, tmp_path):
    import gzip
    import shutil

    from scaling_core.data.translation import load_multi30k

    folder = tmp_path / "data" / "multi30k"
    folder.mkdir(parents=True)
    for name in ("val.de.gz", "val.en.gz"):
        shutil.copy(shared_data / "multi30k" / name, folder / name)
    (tmp_path / "data" / "SHA256SUMS").write_text(
        "".join(f"{sha256_of(folder / n)}  multi30k/{n}\n" for n in ("val.de.gz", "val.en.gz")))
    assert len(load_multi30k("val", tmp_path / "data")) == 1014
    with gzip.open(folder / "val.en.gz", "wt", encoding="utf-8") as handle:
        handle.write("tampered\n" * 1014)
    with pytest.raises(DataError, match=r"^multi30k/val\.en\.gz: checksum mismatch"):
        load_multi30k("val", tmp_path / "data")
