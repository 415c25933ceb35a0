"""Rooms: a teacher's lesson that a class follows, held in the server's memory.

A room has a short code that students type or open in a link, and a secret that only the
teacher's browser session holds: only the secret moves the room. Rooms expire after
EXPIRY_S without a move and are bounded in number (the oldest expire first when full).
Pure Python with a lock (Streamlit serves each session on its own thread); one Rooms
instance per server process (a replica behind nginx's sticky sessions keeps a class on
one process, README "Hosting a class").
"""
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read off a projector
CODE_LENGTH = 5
CODE_PATTERN = re.compile(f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}")
EXPIRY_S = 4 * 3600
MAX_ROOMS = 200


@dataclass
class Room:
    code: str
    lesson: str
    step: int
    secret: str
    moved: float  # time.monotonic() of the last move (or the start)


class RoomError(ValueError):
    """A room that cannot be followed or moved; the message says why, for the page."""


def valid_code(text) -> bool:
    return isinstance(text, str) and CODE_PATTERN.fullmatch(text) is not None


class Rooms:
    def __init__(self, max_rooms: int = MAX_ROOMS, expiry_s: float = EXPIRY_S,
                 clock=time.monotonic):
        self._rooms: dict[str, Room] = {}
        self._lock = threading.Lock()
        self.max_rooms, self.expiry_s, self._clock = max_rooms, expiry_s, clock

    def _expire(self, now: float) -> None:
        for code in [c for c, r in self._rooms.items() if now - r.moved > self.expiry_s]:
            del self._rooms[code]

    def start(self, lesson: str, step: int) -> tuple[str, str]:
        """A new room at `step` of `lesson`: (code, secret)."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            while len(self._rooms) >= self.max_rooms:  # full: the longest idle goes
                del self._rooms[min(self._rooms, key=lambda c: self._rooms[c].moved)]
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            while code in self._rooms:
                code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            secret = secrets.token_urlsafe(16)
            self._rooms[code] = Room(code, lesson, step, secret, now)
            return code, secret

    def get(self, code) -> Room:
        """The room (a copy) for a student; RoomError if the code is malformed, unknown or
        expired."""
        if not valid_code(code):
            raise RoomError("That is not a room code: a code is "
                            f"{CODE_LENGTH} capital letters and digits.")
        with self._lock:
            self._expire(self._clock())
            room = self._rooms.get(code)
            if room is None:
                raise RoomError(f"There is no room {code} (any more): rooms close "
                                f"{self.expiry_s / 3600:g} hours after the teacher's last move. "
                                "Ask your teacher for the current link.")
            return Room(room.code, room.lesson, room.step, "", room.moved)

    def move(self, code, secret, step: int) -> None:
        """Move the room to `step`: only with its secret (compared in constant time)."""
        with self._lock:
            self._expire(self._clock())
            room = self._rooms.get(code) if valid_code(code) else None
            if room is None:
                raise RoomError(f"The room {code} has closed; start a new one.")
            if not isinstance(secret, str) or not hmac.compare_digest(secret, room.secret):
                raise RoomError("Only the teacher who started this room can move it.")
            room.step, room.moved = step, self._clock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._rooms)
