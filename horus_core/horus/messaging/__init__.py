"""Messages and their wire format: topics in shared memory, the payload codec, typed messages over
fixed layouts shared with C (and their generator's layout rules), tensors, large frames.
"""
