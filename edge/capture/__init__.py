"""Page sources (SANE scanner, OpenCV camera, image files), page detection and rectification,
quality gates and enhancement."""
