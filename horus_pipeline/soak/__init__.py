"""`nox -s soak`: run a release on a robot for a while and find leaks, misses, errors and restarts
(run.py drives it, sampler.py runs on the robot, analysis.py and report.py say what it means)."""
