"""Downloads: checksum, resume with Range, cut-off connections, HTTP errors, file:// and mirrors."""

from __future__ import annotations

import hashlib
import os

import pytest
from http_server import serve_folder

from astrotorch.errors import ChecksumError, DownloadError
from astrotorch.io import download, fetch, md5sum, sha256sum

PAYLOAD = os.urandom(300_000)
SHA = hashlib.sha256(PAYLOAD).hexdigest()
MD5 = hashlib.md5(PAYLOAD).hexdigest()


@pytest.fixture()
def www(tmp_path):
    root = tmp_path / "www"
    (root / "sub dir").mkdir(parents=True)
    (root / "data.bin").write_bytes(PAYLOAD)
    (root / "sub dir" / "file.txt").write_bytes(b"hello mirror\n")
    return root


def test_download_ok_with_sha256_and_md5(www, tmp_path):
    dest = tmp_path / "out" / "data.bin"
    with serve_folder(www) as server:
        got = download(server.url("data.bin"), dest, sha256=SHA, md5=MD5, progress=False)
    assert got == dest and dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "out" / "data.bin.part").exists()
    assert sha256sum(dest) == SHA and md5sum(dest) == MD5


def test_wrong_checksum_raises_and_leaves_nothing(www, tmp_path):
    dest = tmp_path / "data.bin"
    with serve_folder(www) as server, pytest.raises(ChecksumError, match="SHA-256 mismatch"):
        download(server.url("data.bin"), dest, sha256="0" * 64, progress=False)
    assert not dest.exists() and not (tmp_path / "data.bin.part").exists()


def test_wrong_md5_raises(www, tmp_path):
    dest = tmp_path / "data.bin"
    with serve_folder(www) as server, pytest.raises(ChecksumError, match="MD5"):
        download(server.url("data.bin"), dest, md5="f" * 32, progress=False)
    assert list(tmp_path.glob("data.bin*")) == []


def test_cut_off_download_raises_then_resumes_with_range(www, tmp_path):
    dest = tmp_path / "data.bin"
    with serve_folder(www, cut_after={"/data.bin": 100_000}) as server:
        with pytest.raises(DownloadError, match="cut off"):
            download(server.url("data.bin"), dest, sha256=SHA, progress=False)
        assert not dest.exists()
        part = tmp_path / "data.bin.part"
        assert part.stat().st_size == 100_000
        server.cut_after = {}
        download(server.url("data.bin"), dest, sha256=SHA, progress=False)
        # second request asked only for the missing bytes
        assert server.requests[-1].range == "bytes=100000-" and server.requests[-1].status == 206
    assert dest.read_bytes() == PAYLOAD and not part.exists()


def test_resume_when_server_ignores_range_restarts_from_zero(www, tmp_path):
    dest = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(b"garbage that is not a prefix")
    with serve_folder(www, support_range=False) as server:
        download(server.url("data.bin"), dest, sha256=SHA, progress=False)
        assert server.requests[-1].status == 200
    assert dest.read_bytes() == PAYLOAD


def test_resume_with_corrupt_part_is_caught_by_checksum(www, tmp_path):
    dest = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(b"X" * 1000)  # wrong prefix, right-looking length
    with serve_folder(www) as server, pytest.raises(ChecksumError):
        download(server.url("data.bin"), dest, sha256=SHA, progress=False)
    assert not dest.exists() and not (tmp_path / "data.bin.part").exists()
    with serve_folder(www) as server:  # the bad .part was deleted: a retry now succeeds
        download(server.url("data.bin"), dest, sha256=SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_oversized_part_gets_416_and_restarts(www, tmp_path):
    dest = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(b"Y" * (len(PAYLOAD) + 10))
    with serve_folder(www) as server:
        download(server.url("data.bin"), dest, sha256=SHA, progress=False)
        assert [r.status for r in server.requests] == [416, 200]
    assert dest.read_bytes() == PAYLOAD


def test_resume_false_discards_part(www, tmp_path):
    dest = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD[:10])
    with serve_folder(www) as server:
        download(server.url("data.bin"), dest, resume=False, progress=False)
        assert server.requests[-1].range is None
    assert dest.read_bytes() == PAYLOAD


@pytest.mark.parametrize("status", [404, 500, 403])
def test_http_errors_raise_download_error(www, tmp_path, status):
    dest = tmp_path / "x.bin"
    with serve_folder(www, status_for={"/x.bin": status}) as server, pytest.raises(DownloadError, match=str(status)):
        download(server.url("x.bin"), dest, progress=False)
    assert list(tmp_path.glob("x.bin*")) == []


def test_connection_refused_raises_download_error(tmp_path):
    import socket

    with socket.socket() as s:  # find a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError):
        download(f"http://127.0.0.1:{port}/nothing", tmp_path / "n", progress=False, timeout=5)
    assert not (tmp_path / "n").exists()


def test_existing_verified_file_is_not_downloaded_again(www, tmp_path):
    dest = tmp_path / "data.bin"
    dest.write_bytes(PAYLOAD)
    with serve_folder(www) as server:
        download(server.url("data.bin"), dest, sha256=SHA, progress=False)
        assert server.requests == []


def test_existing_stale_file_is_replaced(www, tmp_path):
    dest = tmp_path / "data.bin"
    dest.write_bytes(b"old version")
    with serve_folder(www) as server:
        download(server.url("data.bin"), dest, sha256=SHA, progress=False)
        assert len(server.requests) == 1
    assert dest.read_bytes() == PAYLOAD


def test_file_url_and_plain_path(www, tmp_path):
    src = www / "data.bin"
    download(src.as_uri(), tmp_path / "a.bin", sha256=SHA, progress=False)
    download(str(src), tmp_path / "b.bin", sha256=SHA, progress=False)
    assert (tmp_path / "a.bin").read_bytes() == PAYLOAD == (tmp_path / "b.bin").read_bytes()
    with pytest.raises(DownloadError, match="does not exist"):
        download((www / "missing.bin").as_uri(), tmp_path / "c.bin", progress=False)
    with pytest.raises(ChecksumError):
        download(src.as_uri(), tmp_path / "d.bin", sha256="1" * 64, progress=False)
    assert not (tmp_path / "c.bin").exists() and not (tmp_path / "d.bin").exists()


def test_unsupported_scheme(tmp_path):
    with pytest.raises(DownloadError, match="scheme"):
        download("ftp://example.org/x", tmp_path / "x", progress=False)


def test_fetch_prefers_mirror_then_downloads(www, tmp_path):
    mirror = www  # the served folder doubles as a local mirror
    got = fetch("sub dir/file.txt", mirror=mirror, base_url="http://127.0.0.1:9/unused")
    assert got == mirror / "sub dir" / "file.txt"
    copied = fetch("sub dir/file.txt", mirror=mirror, dest=tmp_path / "copy.txt", copy=True, progress=False)
    assert copied.read_bytes() == b"hello mirror\n"
    with serve_folder(www) as server:
        got = fetch("sub dir/file.txt", mirror=tmp_path / "empty-mirror", base_url=server.base_url,
                    dest=tmp_path / "dl.txt", progress=False)
        assert server.requests[-1].path == "/sub%20dir/file.txt"
    assert got.read_bytes() == b"hello mirror\n"


def test_fetch_mirror_checksum_mismatch_keeps_mirror(www):
    with pytest.raises(ChecksumError):
        fetch("data.bin", mirror=www, sha256="2" * 64)
    assert (www / "data.bin").read_bytes() == PAYLOAD


def test_fetch_without_source_raises(tmp_path):
    with pytest.raises(DownloadError, match="no base_url"):
        fetch("a/b.fits", mirror=tmp_path)


def test_fetch_default_dest_is_data_home(www, tmp_path, monkeypatch):
    monkeypatch.setenv("ASTROTORCH_HOME", str(tmp_path / "home"))
    with serve_folder(www) as server:
        got = fetch("data.bin", base_url=server.base_url, sha256=SHA, progress=False)
    assert got == tmp_path / "home" / "data.bin" and got.read_bytes() == PAYLOAD


def test_http_server_answers_head_with_length(www):
    import urllib.request

    with serve_folder(www) as server:
        req = urllib.request.Request(server.url("data.bin"), method="HEAD")
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert int(resp.headers["Content-Length"]) == len(PAYLOAD) and resp.read() == b""
