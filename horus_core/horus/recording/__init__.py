"""Flight recording and replay: what each node saw and sent, tick by tick, and upstream's replay API."""
