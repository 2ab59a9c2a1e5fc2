"""`nox -s image`: reproducible robot disk images with a release installed, booting to healthy nodes."""
