"""Simulated robots: Debian rootfs booted with systemd-nspawn, each in a network namespace of its own.

fleet    the robots of one sim directory (`nox -s sim`, `python -m horus_pipeline.sim`)
registry what runs, noted in /run/horus-sim so a later run finds (and reaps) it
robot    one running robot as the host sees it: SSH, nsenter, its processes
rootfs   cached base root filesystems (mmdebstrap) and commands run inside one
netns    network namespaces, veth pairs and private /30 subnets
cgroup   a cgroup per robot, so every process it started can be found and killed
prereqs  host tools (apt) and qemu-user in binfmt_misc for foreign CPUs
"""
