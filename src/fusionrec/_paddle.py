"""Import Paddle quietly: its start-up chatter is not for fusionrec's users.

Paddle warns at import when ccache is missing (it only matters for compiling C++ extensions)
and its C++ side logs WARNING lines through glog during ``paddle.jit.save``. The glog level
is only a default: a user who sets ``GLOG_minloglevel`` keeps their own.
"""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("GLOG_minloglevel", "2")

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="No ccache found")
    import paddle

__all__ = ["paddle"]
