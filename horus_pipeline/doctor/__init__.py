"""`horus doctor` (`nox -s doctor`): the seed's pre-deployment checklist, as checks.

app.py (node code, read by appscan.py with `ast`), pipeline.py (lock, units, journald; units
rendered by units.py from the role's templates), live.py (a deployed robot, through
horus_pipeline.fleet's probe); report.py holds the results, checks.py runs them (and is what a
deploy calls: `require_release_ok`), cli.py is the command.
"""
