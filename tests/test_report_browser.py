"""The HTML report in headless Chromium: no console errors, no network, every image decodes.

Chromium is driven over the DevTools protocol (a websocket) so the test sees console
messages, exceptions, failed loads and each image's ``naturalWidth`` directly; a second
run with ``--screenshot`` checks that the page renders to a non-blank picture.
CI installs Debian's ``chromium`` (see ``.ci/run``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg
from report_fixtures import build_fixture_report, write_int8_result

websocket = pytest.importorskip("websocket", reason="websocket-client is in the test extra")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run")
TIMEOUT_S = 60

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (see .ci/run)"),
]


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    """The fixture study with the Pix2Pix generators and int8 results of two networks."""
    root = tmp_path_factory.mktemp("browser")
    int8 = [write_int8_result(root, "cifar10", model) for model in ("resnet20", "squeezenet")]
    return build_fixture_report(root, gan=True, posttrain=[summary for summary, _ in int8],
                                posttrain_bench=[f for _, files in int8 for f in files]
                                ) / "index.html"


def wait_for(path: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= 1:
            return path.read_text()
        time.sleep(0.1)
    raise TimeoutError(f"chromium did not write {path} within {timeout} s")


@contextmanager
def devtools_page(profile: Path) -> Iterator[str]:
    """Start headless Chromium with a fresh profile; yield the page's DevTools websocket URL."""
    process = subprocess.Popen(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        port = wait_for(profile / "DevToolsActivePort", TIMEOUT_S).splitlines()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            pages = [t for t in json.load(answer) if t["type"] == "page"]
        yield pages[0]["webSocketDebuggerUrl"]
    finally:
        process.terminate()
        process.wait(timeout=30)


class DevTools:
    """A minimal DevTools protocol client that keeps every event it receives."""

    def __init__(self, url: str) -> None:
        self.socket = websocket.create_connection(url, timeout=TIMEOUT_S, suppress_origin=True)
        self.events: list[dict] = []
        self.next_id = 0

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return message["result"]
            self.events.append(message)

    def wait_event(self, method: str) -> dict:
        while not any(e.get("method") == method for e in self.events):
            self.events.append(json.loads(self.socket.recv()))
        return next(e for e in self.events if e.get("method") == method)


def evaluate(page: DevTools, expression: str):
    result = page.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"]
    return result.get("value")  # absent for undefined


@contextmanager
def opened_report(report_html: Path, profile: Path) -> Iterator[DevTools]:
    """The report loaded in a fresh headless Chromium, every event of it recorded."""
    with devtools_page(profile) as url:
        page = DevTools(url)
        for domain in ("Runtime", "Log", "Network", "Page"):
            page.call(f"{domain}.enable")
        page.call("Page.navigate", url=report_html.as_uri())
        page.wait_event("Page.loadEventFired")
        try:
            yield page
        finally:
            page.socket.close()


def problems(events: list[dict]) -> list[str]:
    """Console errors, uncaught exceptions and failed or non-local loads."""
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            found.append(f"console.{params['type']}: {params['args']}")
        elif method == "Runtime.exceptionThrown":
            found.append(f"exception: {params['exceptionDetails']}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            found.append(f"log: {params['entry']['text']}")
        elif method == "Network.loadingFailed":
            found.append(f"failed load: {params.get('errorText')}")
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith(("file:", "data:")):
                found.append(f"network request: {url}")
    return found


def test_report_loads_without_errors_and_every_image_decodes(report_html, tmp_path):
    with opened_report(report_html, tmp_path / "profile") as page:
        images = evaluate(page, "Array.from(document.images, i => [i.alt, i.complete, "
                                "i.naturalWidth])")
    assert problems(page.events) == []
    # five figures, ms per million MACs (Runtimes section), the flowchart, the Pix2Pix samples
    assert len(images) == 8, images
    assert all(complete and width > 0 for _, complete, width in images), images


def test_screenshot_of_the_report_is_not_blank(report_html, tmp_path):
    shot = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1400,2400", "--hide-scrollbars", report_html.as_uri()],
        check=True, capture_output=True, timeout=TIMEOUT_S * 2,
    )
    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (2400, 1400)
    # Text, tables and figures: many distinct colours, not one background colour.
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 50


VISIBLE_LATENCIES = ("Array.from(document.querySelectorAll('table.sortable')[0].tBodies[0].rows)"
                     ".filter(r => !r.hidden).map(r => parseFloat(r.dataset.latency))")


def test_a_typed_latency_budget_filters_the_frontier_and_headers_sort(report_html, tmp_path):
    with opened_report(report_html, tmp_path / "profile") as page:
        before = evaluate(page, VISIBLE_LATENCIES)
        budget = sorted(before)[(len(before) - 1) // 2]  # about half the frontier fits
        evaluate(page, "document.querySelector('#variant-filter [name=budget]').focus()")
        page.call("Input.insertText", text=f"{budget}")  # typed, as a reader would
        after = evaluate(page, VISIBLE_LATENCIES)
        shown = evaluate(page, "document.querySelector('#variant-filter output').textContent")
        evaluate(page, "document.querySelector('#variant-filter [name=budget]').value = ''")
        evaluate(page, "document.querySelector('#variant-filter [name=budget]')"
                       ".dispatchEvent(new Event('input'))")
        header = ("Array.from(document.querySelectorAll('table.sortable')[1].tHead.rows[0].cells)"
                  ".find(c => c.textContent.startsWith('mean latency'))")
        evaluate(page, f"{header}.click()")
        evaluate(page, f"{header}.click()")  # the second click: slowest first
        column = ("Array.from(document.querySelectorAll('table.sortable')[1].tBodies[0].rows)"
                  ".map(r => parseFloat(r.dataset.latency))")
        descending = evaluate(page, column)
        evaluate(page, ("Array.from(document.querySelectorAll('table.sortable')[1].tHead.rows[0]"
                        ".cells).find(c => c.textContent === 'network').click()"))
        by_name = evaluate(page, ("Array.from(document.querySelectorAll('table.sortable')[1]"
                                  ".tBodies[0].rows).map(r => r.cells[0].textContent)"))
        # Words sort in the reader's collation, digit runs as numbers (resnet56 < resnet110).
        collated = evaluate(page, f"{json.dumps(by_name)}.slice().sort(new Intl.Collator("
                                  "undefined, {numeric: true}).compare)")
    assert problems(page.events) == []
    assert len(before) >= 2 and 0 < len(after) < len(before)
    assert all(latency <= budget for latency in after)
    assert after == [latency for latency in before if latency <= budget]
    assert shown.endswith("table rows shown") and not shown.startswith(f"{len(before)} ")
    assert len(descending) > 2 and descending == sorted(descending, reverse=True)
    assert len(by_name) > 2 and by_name == collated


def test_screenshot_of_the_answer_section(report_html, tmp_path):
    """The top of the page: the answer per device (kept for reviewers under tmp_path)."""
    shot = tmp_path / "answer.png"
    subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1400,1600", "--hide-scrollbars", report_html.as_uri() + "#answer"],
        check=True, capture_output=True, timeout=TIMEOUT_S * 2,
    )
    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (1600, 1400)
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 20


# The big tables of the Tables and Runtimes sections (archopt.report.html.data_table).
BIG_TABLE = ("Array.from(document.querySelectorAll('#{section} form.table-filter'))"
             ".map(f => f.nextElementSibling.querySelector('table'))"
             ".find(t => t.tHead.textContent.includes('{header}'))")


def visible_rows(table: str) -> str:
    """JavaScript: the text of each shown row's cells."""
    return (f"Array.from({table}.tBodies[0].rows).filter(r => !r.hidden)"
            ".map(r => Array.from(r.cells, c => c.textContent.trim()))")


def column_index(table: str, group: str) -> str:
    """JavaScript: the first column under the top header cell that starts with ``group``."""
    return (f"(() => {{ let start = 0; for (const c of {table}.tHead.rows[0].cells) {{"
            f" if (c.textContent.trim().startsWith('{group}')) return start;"
            " start += c.colSpan; } })()")


@pytest.mark.parametrize(("section", "header", "words"), [
    ("runtimes", "eager ms", "SqueezeNet dsc"),  # a runtime matrix
    ("posttrain", "accuracy from", "int8 RESNET"),  # architecture vs post-training
])
def test_typing_in_a_big_tables_filter_box_keeps_the_rows_with_every_word(
        report_html, tmp_path, section, header, words):
    table = BIG_TABLE.format(section=section, header=header)
    form = f"{table}.closest('.scroll').previousElementSibling"
    with opened_report(report_html, tmp_path / "profile") as page:
        every = evaluate(page, visible_rows(table))
        evaluate(page, f"{form}.querySelector('[name=words]').focus()")
        page.call("Input.insertText", text=words)  # typed, as a reader would
        both_words = evaluate(page, visible_rows(table))
        shown = evaluate(page, f"{form}.querySelector('output').textContent")
        page.call("Input.insertText", text="qx")  # no row contains "...qx"
        none = evaluate(page, visible_rows(table))
    assert problems(page.events) == []
    expected = [row for row in every
                if all(word in " ".join(row).lower() for word in words.lower().split())]
    assert len(every) >= 6 and 0 < len(both_words) < len(every)
    assert both_words == expected
    assert shown == f"{len(expected)} of {len(every)} rows shown"
    assert none == []


def test_a_big_tables_device_select_keeps_that_devices_rows(report_html, tmp_path):
    sensitivity = BIG_TABLE.format(section="runtimes", header="flipped by")
    form = f"{sensitivity}.closest('.scroll').previousElementSibling"
    select = f"{form}.querySelector('select[data-column=\"1\"]')"
    with opened_report(report_html, tmp_path / "profile") as page:
        every = evaluate(page, visible_rows(sensitivity))
        options = evaluate(page, f"Array.from({select}.options, o => o.value)")
        evaluate(page, f"{select}.value = 'cuda'; {select}.dispatchEvent(new Event('change'))")
        cuda = evaluate(page, visible_rows(sensitivity))
    assert problems(page.events) == []
    assert options == ["", "cpu", "cuda"]
    assert cuda == [row for row in every if row[1] == "cuda"] and 0 < len(cuda) < len(every)


def test_a_numeric_column_of_a_big_table_sorts_ascending_then_descending(report_html,
                                                                          tmp_path):
    """Cells like "2.00 ± 0.10" and "55,558,144" sort by their number; "not measured" last."""
    paper = BIG_TABLE.format(section="tables", header="MACs / image")
    cells = "(index) => Array.from({table}.tBodies[0].rows, r => r.cells[index].textContent.trim())"
    columns = {}
    with opened_report(report_html, tmp_path / "profile") as page:
        for group in ("MACs / image", "CPU latency ms"):
            index = evaluate(page, column_index(paper, group))
            header = f"{paper}.tHead.rows[{paper}.tHead.rows.length - 1].cells[{index}]"
            read = f"({cells.format(table=paper)})({index})"
            evaluate(page, f"{header}.click()")
            ascending = (evaluate(page, read), evaluate(page, f"{header}.ariaSort"))
            evaluate(page, f"{header}.click()")
            columns[group] = ascending, (evaluate(page, read), evaluate(page, f"{header}.ariaSort"))
    assert problems(page.events) == []
    for (up, up_aria), (down, down_aria) in columns.values():
        assert (up_aria, down_aria) == ("ascending", "descending")
        for order, reverse in ((up, False), (down, True)):
            measured = [float(text.split()[0].replace(",", "")) for text in order
                        if text != "not measured"]
            assert len(measured) >= 3 and measured == sorted(measured, reverse=reverse), order
            assert order[len(measured):] == ["not measured"] * (len(order) - len(measured))
