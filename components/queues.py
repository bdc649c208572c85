"""The app's queues: interactive requests never wait behind long ones.

Each expensive kind of work has its own concurrency group and limit, so a GGUF export, a
sensitivity probe, a measured curve or a profile runs beside slider moves and arena answers
instead of ahead of them (the session's lock is taken one step at a time by the long ones).
Pass one of these as keyword arguments to an event listener.
"""

# Interactive requests run the model under its (fair) lock, so more slots add no CPU load;
# they keep a request that waits for a one-time score (the sensitivity probe, a profile)
# from holding up every other visitor behind it.
INTERACTIVE = {"concurrency_id": "model", "concurrency_limit": 16}  # slider moves, picker
# Arena answers generate with all three models: two at a time keep the cores for the slider
# (more would only wait for the model's lock, competing for the interpreter meanwhile).
ARENA = {"concurrency_id": "arena", "concurrency_limit": 2}
PROFILE = {"concurrency_id": "profile", "concurrency_limit": 1}  # entropy profiles
PROBE = {"concurrency_id": "probe", "concurrency_limit": 1}  # sensitivity, measured curves
EXPORT = {"concurrency_id": "export", "concurrency_limit": 1}  # GGUF exports, llama.cpp
WHAT_FITS = {"concurrency_id": "what-fits", "concurrency_limit": 2}  # configs, hub look-ups
LOADING = {"concurrency_id": "load", "concurrency_limit": 1}  # model picker: loads a model
