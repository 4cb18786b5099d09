"""The progress reports of digitization, per unit and rolled up the unit tree.

- `plan`: the plan's deadlines by volume held (data: `server/data/digitization_plan.toml`).
- `figures`: the figures of a report — per month, per unit, against targets — from the monthly
  tallies (`server.repository.tallies`), the imported issued counts and the units' targets.
- `charts`: the figures drawn as SVG, on the server (no script, no outside library).
- `export`: the figures as XLSX (one sheet per report) and CSV.
- `inputs`: reading the targets and issued-counts files an admin imports.
"""
