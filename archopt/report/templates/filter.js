// The report's variant tables, filtered and sorted in the page (no server, no library).
(function () {
  "use strict";
  const bar = document.getElementById("variant-filter");
  if (!bar) {
    return;
  }
  const rows = Array.from(document.querySelectorAll("tr[data-device]"));
  const keys = ["device", "dataset", "technique", "runtime", "precision"];
  const field = (name) => bar.querySelector(`[name=${name}]`);
  const number = (name) => parseFloat(field(name).value);

  function apply() {
    const budget = number("budget");
    const floor = number("floor");
    let shown = 0;
    for (const row of rows) {
      let keep = keys.every((key) => field(key).value === "" || row.dataset[key] === field(key).value);
      keep = keep && (Number.isNaN(budget) || parseFloat(row.dataset.latency) <= budget);
      keep = keep && (Number.isNaN(floor) || parseFloat(row.dataset.accuracy) >= floor);
      row.hidden = !keep;
      shown += keep;
    }
    bar.querySelector("output").textContent = `${shown} of ${rows.length} table rows shown`;
  }

  for (const key of keys) {
    const values = [...new Set(rows.map((row) => row.dataset[key]))].sort();
    for (const value of values) {
      field(key).add(new Option(value, value));
    }
    field(key).addEventListener("change", apply);
  }
  for (const name of ["budget", "floor"]) {
    field(name).addEventListener("input", apply);
  }
  apply();

  // A click (or Enter) on a column header sorts by it; a second one reverses the order.
  const sortKey = (cell) => {
    const value = parseFloat(cell.dataset.sort);
    return Number.isNaN(value) ? cell.textContent.trim() : value;
  };
  for (const table of document.querySelectorAll("table.sortable")) {
    const headers = Array.from(table.tHead.rows[0].cells);
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
        const sorted = Array.from(body.rows).sort((a, b) => {
          const x = sortKey(a.cells[index]);
          const y = sortKey(b.cells[index]);
          const order = typeof x === "number" && typeof y === "number"
            ? x - y : String(x).localeCompare(String(y));
          return ascending ? order : -order;
        });
        body.append(...sorted);
      });
    });
  }
})();
