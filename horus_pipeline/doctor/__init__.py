"""`horus doctor` (`nox -s doctor`): the seed's pre-deployment checklist, as checks.

app.py (node code, read by appscan.py with `ast`), pipeline.py (lock, units, journald; units
rendered by units.py from the robot contract), live.py (a deployed robot, through
horus_pipeline.fleet's probe); report.py holds the results; release.py runs the checks that need
no robot (what the build calls: `require_release_ok`), checks.py the live ones; cli.py is the command.
"""
