"""Coordinate frames: horus.Transform, the TransformFrame tree, its reports and sharing it across
the namespace's processes.
"""
