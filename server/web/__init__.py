"""The pages people open, served as HTML by the same FastAPI app as the API.

- `mount.add_pages`: puts the pages, their static files and their error pages on the app.
- `visitors`: who is signed in (the session cookie), which role a page needs, and the CSRF
  check every form passes.
- `render`: the templates, and how dates, roles and matches are shown (Vietnamese, dd/mm/yyyy
  in Asia/Ho_Chi_Minh).
- `errors`: what a page refuses with (`PageError`) or where it sends a visitor not signed in.
- `routes/`: one module per page group: `signin` (sign in and out), `search` (find results),
  `results` (a result, its PDF, its reuse), `audit` (the access log).

The pages call the API's own handlers (`server.api.routes`), so a page refuses what the API
refuses, for the same reasons, and every read of a citizen's data is audited the same way.
"""
