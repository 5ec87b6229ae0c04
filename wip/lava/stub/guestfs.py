# stub for --validate experiments only (python3-guestfs not installed here)
class GuestFS:
    def __init__(self, *a, **k): raise RuntimeError("guestfs stub")
