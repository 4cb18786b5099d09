"""Data files the server ships: the administrative units (`units_khanh_hoa.csv`) and the
procedure catalogue (`procedures.csv`), read by `server.catalogue_files`."""
