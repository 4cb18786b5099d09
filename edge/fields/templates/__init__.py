"""Templates of the common result types, as data: one TOML file per type.

Read by `edge.fields.tables.load_templates`; the file format is described there.
"""
