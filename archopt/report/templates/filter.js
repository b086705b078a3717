// The report's tables, filtered and sorted in the page (no server, no library): the
// variant tables of "What to deploy" by one shared form (#variant-filter), every big
// table by its own form just above it (form.table-filter), and every table.sortable by
// a click on a column header.
(function () {
  "use strict";
  const KEYS = ["device", "dataset", "technique", "runtime", "precision"];
  const cellText = (cell) => cell.textContent.trim();
  const distinct = (values) => [...new Set(values)].sort((a, b) => a.localeCompare(b, undefined, {numeric: true}));

  function fillSelect(select, values) {
    for (const value of distinct(values)) {
      select.add(new Option(value, value));
    }
  }

  // The variant tables: device ... precision, a latency budget and an accuracy floor.
  function variantFilter(bar) {
    const rows = Array.from(document.querySelectorAll("tr[data-device]"));
    const field = (name) => bar.querySelector(`[name=${name}]`);
    const number = (name) => parseFloat(field(name).value);

    function apply() {
      const budget = number("budget");
      const floor = number("floor");
      let shown = 0;
      for (const row of rows) {
        let keep = KEYS.every((key) => field(key).value === "" || row.dataset[key] === field(key).value);
        keep = keep && (Number.isNaN(budget) || parseFloat(row.dataset.latency) <= budget);
        keep = keep && (Number.isNaN(floor) || parseFloat(row.dataset.accuracy) >= floor);
        row.hidden = !keep;
        shown += keep;
      }
      bar.querySelector("output").textContent = `${shown} of ${rows.length} table rows shown`;
    }

    for (const key of KEYS) {
      fillSelect(field(key), rows.map((row) => row.dataset[key]));
      field(key).addEventListener("change", apply);
    }
    for (const name of ["budget", "floor"]) {
      field(name).addEventListener("input", apply);
    }
    apply();
  }

  // A big table's own form: rows containing every typed word (any case), and a select
  // per device / dataset / technique / runtime / precision column (data-column).
  function tableFilter(form) {
    const table = form.nextElementSibling.querySelector("table");
    const rows = Array.from(table.tBodies[0].rows);
    const words = form.querySelector("[name=words]");
    const selects = Array.from(form.querySelectorAll("select[data-column]"));
    const column = (select) => Number(select.dataset.column);

    function apply() {
      const wanted = words.value.toLowerCase().split(/\s+/).filter(Boolean);
      let shown = 0;
      for (const row of rows) {
        const text = row.textContent.toLowerCase();
        const keep = wanted.every((word) => text.includes(word))
          && selects.every((s) => s.value === "" || cellText(row.cells[column(s)]) === s.value);
        row.hidden = !keep;
        shown += keep;
      }
      form.querySelector("output").textContent = `${shown} of ${rows.length} rows shown`;
    }

    for (const select of selects) {
      fillSelect(select, rows.map((row) => cellText(row.cells[column(select)])));
      select.addEventListener("change", apply);
    }
    words.addEventListener("input", apply);
    apply();
  }

  // Sort keys. A cell's data-sort wins; else the number its text starts with ("91.2 ± 0.9",
  // "3.1 ms", "746,638", "120.0 kB" in bytes); else its text. Cells that hold no value
  // ("n/a", "not measured", empty) sort last in both directions.
  const MISSING = /^(n\/a|not measured|not run|-|—|)$/i;
  const NUMBER = /^([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)\s*(B|kB|MB|GB)?(?![\w.])/;
  const BYTES = {B: 1, kB: 1e3, MB: 1e6, GB: 1e9};

  function sortKey(cell) {
    const text = cellText(cell);
    if (cell.classList.contains("missing") || MISSING.test(text)) {
      return null;
    }
    if (cell.dataset.sort !== undefined && !Number.isNaN(parseFloat(cell.dataset.sort))) {
      return parseFloat(cell.dataset.sort);
    }
    const match = text.replace(/(\d),(?=\d{3}(?!\d))/g, "$1").match(NUMBER);
    return match ? parseFloat(match[1]) * (BYTES[match[2]] || 1) : text;
  }

  function compare(x, y) {
    if (typeof x === "number" && typeof y === "number") {
      return x - y;
    }
    if (typeof x !== typeof y) {
      return typeof x === "number" ? -1 : 1;  // numbers before words
    }
    return x.localeCompare(y, undefined, {numeric: true});
  }

  // A click (or Enter) on a header of the last header row (the one with one cell per
  // column, under any grouping row) sorts by that column; a second one reverses the order.
  function sortable(table) {
    const headers = Array.from(table.tHead.rows[table.tHead.rows.length - 1].cells);
    headers.forEach((header, index) => {
      header.tabIndex = 0;
      header.title = "sort by this column";
      header.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          header.click();
        }
      });
      header.addEventListener("click", () => {
        const ascending = header.getAttribute("aria-sort") !== "ascending";
        headers.forEach((other) => other.removeAttribute("aria-sort"));
        header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const body = table.tBodies[0];
        const keyed = Array.from(body.rows, (row) => [sortKey(row.cells[index]), row]);
        keyed.sort(([x], [y]) => {
          if (x === null || y === null) {
            return (x === null) - (y === null);
          }
          return ascending ? compare(x, y) : compare(y, x);
        });
        body.append(...keyed.map(([, row]) => row));
      });
    });
  }

  const bar = document.getElementById("variant-filter");
  if (bar) {
    variantFilter(bar);
  }
  document.querySelectorAll("form.table-filter").forEach(tableFilter);
  document.querySelectorAll("table.sortable").forEach(sortable);
})();
