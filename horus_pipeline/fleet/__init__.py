"""`horus fleet status` (`nox -s fleet`): every robot of an Ansible inventory in one table.

inventory.py reads the inventory through Ansible and builds each robot's ssh command; probe.py
runs on the robot (standard library only) and reports on it in one round-trip; status.py asks
all robots at once and parses their answers; table.py renders them; cli.py is the command.
"""
