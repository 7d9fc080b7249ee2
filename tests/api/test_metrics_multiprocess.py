"""/metrics with several worker processes: a scrape answered by any worker shows the sum of all of them;
without prometheus_client's multiprocess mode, every Metrics keeps its own registry (api/metrics.py)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from apitest import served_service
from prometheus_client import values
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from api.metrics import MULTIPROC_ENV, Metrics

KEK_HEX = "42" * 32
REFUSED = ("nguvu_http_errors_total", {"code": "missing_api_key"})


def sample(text: str, name: str, labels: dict[str, str] | None = None) -> list[float]:
    """Every value of the series `name{labels}` in an exposition (one, unless per-process series leak)."""
    return [
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and (labels is None or s.labels == labels)
    ]


def test_two_metrics_in_one_process_keep_their_own_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Even with the variable set now: prometheus_client was loaded without it and keeps values in memory.
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    a, b = Metrics(), Metrics()
    assert a.multiprocess_dir is None and b.multiprocess_dir is None
    a.http_errors.labels("missing_api_key").inc()
    a.http_errors.labels("missing_api_key").inc()
    b.http_errors.labels("missing_api_key").inc()
    b.outbox_depth.set(4)
    assert sample(a.render().decode(), *REFUSED) == [2]
    assert sample(b.render().decode(), *REFUSED) == [1]
    assert sample(a.render().decode(), "nguvu_sms_outbox_depth") == [0]
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def fake_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], None]]:
    """Multiprocess mode inside this test process: values go to files under tmp_path, named after a
    process id the test switches (prometheus_client treats a new id as a new process)."""
    pid = [os.getpid()]
    value_class = values.MultiProcessValue(lambda: pid[0])
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    monkeypatch.setattr(values, "ValueClass", value_class)

    def become(new_pid: int) -> None:
        pid[0] = new_pid

    yield become
    value_class.close_all_files()


def test_a_scrape_sums_the_counts_of_all_processes(
    tmp_path: Path, fake_processes: Callable[[int], None]
) -> None:
    me = os.getpid()
    fake_processes(me + 100_000)  # another worker (its files only ever live under tmp_path)
    other = Metrics()
    assert other.multiprocess_dir == tmp_path
    for _ in range(3):
        other.http_errors.labels("missing_api_key").inc()
    other.ussd_latency.observe(0.003)
    other.outbox_depth.set(7)
    fake_processes(me)  # this worker
    mine = Metrics()
    mine.http_errors.labels("missing_api_key").inc()
    mine.ussd_latency.observe(0.2)
    mine.outbox_depth.set(2)  # the newer count wins: neither 9 (sum) nor 7 (max) nor one series per pid
    text = mine.render().decode()
    assert sample(text, *REFUSED) == [4]
    assert sample(text, "nguvu_ussd_step_seconds_count") == [2]
    assert sample(text, "nguvu_ussd_step_seconds_bucket", {"le": "0.005"}) == [1]
    assert sample(text, "nguvu_sms_outbox_depth") == [2]
    # This worker exits: its gauge samples go, its counts stay in the sums.
    mine.mark_process_dead()
    text = mine.render().decode()
    assert sample(text, *REFUSED) == [4]
    assert sample(text, "nguvu_sms_outbox_depth") == [7]


def test_the_directory_vanishing_under_a_writing_process_is_a_clear_error(
    fake_processes: Callable[[int], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MULTIPROC_ENV)
    with pytest.raises(RuntimeError, match=MULTIPROC_ENV):
        Metrics()


# --- the real thing: `nguvu serve --workers 2` -------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A two-worker service on SQLite; yields its URL and the directory its workers write metrics to."""
    env = dict(
        NGUVU_KEK=KEK_HEX,
        NGUVU_DATA_DIR=str(tmp_path / "data"),
        NGUVU_RUN_WORKERS="false",
        NGUVU_MIGRATE_ON_START="false",  # `serve` migrated once, before the workers start
    )
    log = tmp_path / "serve.log"
    with served_service(env, log, workers=2) as url:
        found = re.search(r"write their metrics under (\S+)", log.read_text())
        assert found, log.read_text()[-2000:]
        yield url, Path(found.group(1))
    assert not Path(found.group(1)).exists()  # the run's metric files went with it


def _per_worker(directory: Path, name: str, labels: dict[str, str]) -> dict[str, float]:
    """Each worker's own share, read from its file (what a per-process /metrics used to answer)."""
    shares = {}
    for f in directory.glob("counter_*.db"):
        for family in MultiProcessCollector.merge([str(f)]):
            for s in family.samples:
                if s.name == name and s.labels == labels:
                    shares[f.stem.split("_")[1]] = s.value
    return shares


def _scraped_by(directory: Path) -> set[str]:
    """The workers that answered a scrape: the handler stamps the time on their gauge files."""
    return {
        f.stem.rsplit("_", 1)[1]
        for f in directory.glob("gauge_livemostrecent_*.db")
        if any(timestamp for _key, _value, timestamp, _pos in MmapedDict.read_all_values_from_file(str(f)))
    }


@pytest.mark.slow
def test_every_scrape_of_two_workers_shows_the_total(served: tuple[str, Path]) -> None:
    url, directory = served

    def refuse(_: int) -> None:
        # A new connection per request: whichever worker accepts first answers it.
        with httpx.Client(timeout=10) as http:
            assert http.get(f"{url}/api/v1/meters/01234567897").status_code == 401

    sent = 0
    # Bounded: refused requests in concurrent batches until both workers have counted some.
    with ThreadPoolExecutor(8) as pool:
        while sent < 400 and len(_per_worker(directory, *REFUSED)) < 2:
            list(pool.map(refuse, range(16)))
            sent += 16
    shares = _per_worker(directory, *REFUSED)
    assert len(shares) == 2 and all(0 < n < sent for n in shares.values()), shares
    assert sum(shares.values()) == sent
    # Scrape until each worker has answered at least once; every answer shows the total.
    for _ in range(60):
        with httpx.Client(timeout=10) as http:
            text = http.get(f"{url}/metrics").text
        assert sample(text, *REFUSED) == [sent], (shares, text[-1500:])
        assert sample(text, "nguvu_sms_outbox_depth") == [0]  # one series, not one per process
        if _scraped_by(directory) == set(shares):
            break
    assert _scraped_by(directory) == set(shares)
