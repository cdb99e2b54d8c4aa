"""Every area's importer kind (store/importing.py) and export sheets (store/exporting.py), in one place.

Each kind creates its records through the area's own store services (so their validation, numbering,
schedules and audit rows apply unchanged); the importer adds the `imported` audit row with the file's
SHA-256. Importing this module registers them.
"""

from __future__ import annotations
