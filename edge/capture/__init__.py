"""Page sources (image files now; SANE scanner and OpenCV camera to come), page detection,
quality gates and enhancement."""
