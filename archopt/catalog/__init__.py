"""The model catalog: static costs of every network of a study."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass

from archopt.models import count_params, get_model, parse_name, state_dict_bytes
from archopt.models.costs import network_costs

CATALOG_COLUMNS = (
    "name", "family", "technique", "scaling", "width_factor", "params", "macs", "state_dict_bytes",
)


@dataclass(frozen=True)
class CatalogRow:
    name: str
    family: str
    technique: str
    scaling: str
    width_factor: float | None
    params: int
    macs: int
    state_dict_bytes: int


def catalog_row(name: str, dataset: str) -> CatalogRow:
    info = parse_name(name)
    model = get_model(info.name, dataset)
    return CatalogRow(
        name=info.name,
        family=info.family,
        technique=info.technique,
        scaling=info.scaling,
        width_factor=info.factor,
        params=count_params(model),
        macs=network_costs(info.name, dataset).macs,
        state_dict_bytes=state_dict_bytes(model),
    )


def catalog_rows(names: list[str], dataset: str) -> list[CatalogRow]:
    return [catalog_row(name, dataset) for name in names]


def rows_to_csv(rows: list[CatalogRow]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CATALOG_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        record = asdict(row)
        record["width_factor"] = "" if row.width_factor is None else row.width_factor
        writer.writerow(record)
    return out.getvalue()
