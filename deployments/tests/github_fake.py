"""A local HTTP server that answers like GitHub's REST API, for the GitHub provider's tests.

It keeps one repository in memory, as GitHub does: git objects (blobs, trees, commits),
refs, pull requests, labels and issue comments. It answers the endpoints PyGithub calls with
GitHub's status codes and error bodies (401 "Bad credentials", 404 "Not Found", 422
"Validation Failed" with its `errors` list), paginates lists with a Link header, and counts
every request so a test can assert how many calls a piece of code made.

Fault injection, for the failures a provider must survive:

- `fail_next(n, status)`: the next n requests answer a 5xx without doing anything;
- `fail_after_create_pull`: the next pull request is created, then the answer is a 502;
- `rate_limit_next(...)`: the next request answers GitHub's rate-limit 403 (or 429);
- `truncate_trees`: recursive tree reads come back `truncated`, as for very large trees.

A GitHub App installation (`install_app`) exchanges an RS256 JWT signed with the App's key,
checked against its public key, for the repository's token.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import jwt
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

TOKEN = "ghp_fake0token0that0must0never0leak"
REPOSITORY = "neuroscale/gitops"
DOCS = "https://docs.github.com/rest"
#: A stand-in for timestamps the fake sets when it creates a pull request.
EPOCH = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


@dataclass
class Call:
    method: str
    path: str
    query: dict


@dataclass
class Pull:
    number: int
    title: str
    body: str
    head: str
    head_sha: str
    base: str
    draft: bool = False
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    merged: bool = False
    merged_by: str | None = None
    merged_at: datetime | None = None
    closed_at: datetime | None = None
    merge_commit_sha: str | None = None
    user: str = "portal-bot"
    created_at: datetime = EPOCH
    updated_at: datetime = EPOCH


class FakeGitHub:
    """One repository on a fake GitHub; `url` is what PORTAL_GITHUB_API_URL points at."""

    def __init__(self, repository: str = REPOSITORY, token: str = TOKEN, default_branch: str = "main"):
        self.repository = repository
        self.token = token
        self.default_branch = default_branch
        self.exists = True
        self.blobs: dict[str, bytes] = {}
        self.trees: dict[str, list[dict]] = {}
        self.commits: dict[str, dict] = {}
        self.refs: dict[str, str] = {}
        self.pulls: dict[int, Pull] = {}
        self.comments: dict[int, dict] = {}
        #: Check runs by commit SHA, as CI reports them.
        self.check_runs: dict[str, list[dict]] = {}
        self.calls: list[Call] = []
        self._numbers = itertools.count(1)
        self._comment_ids = itertools.count(9001)
        # The fake's clock starts an hour ago and moves one second per write, so order is exact.
        self._epoch = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        self._ticks = itertools.count(1)
        self._lock = threading.Lock()
        # Fault injection
        self._failures: list[int] = []
        self.fail_after_create_pull = False
        self._rate_limit: dict | None = None
        self.truncate_trees = False
        #: The installed GitHub App: {"id", "public_key", "installation"}; None when there is none.
        self.app: dict | None = None
        self._server = None
        self._thread = None
        self.url = ""
        self._routes = Map([
            Rule("/repos/<owner>/<name>", endpoint="repo"),
            Rule("/repos/<owner>/<name>/git/ref/<path:ref>", endpoint="get_ref", methods=["GET"]),
            Rule("/repos/<owner>/<name>/git/refs/<path:ref>", endpoint="get_ref", methods=["GET"]),
            Rule("/repos/<owner>/<name>/git/refs/<path:ref>", endpoint="update_ref", methods=["PATCH"]),
            Rule("/repos/<owner>/<name>/git/refs", endpoint="create_ref", methods=["POST"]),
            Rule("/repos/<owner>/<name>/git/commits/<sha>", endpoint="get_commit", methods=["GET"]),
            Rule("/repos/<owner>/<name>/git/commits", endpoint="create_commit", methods=["POST"]),
            Rule("/repos/<owner>/<name>/git/trees/<path:sha>", endpoint="get_tree", methods=["GET"]),
            Rule("/repos/<owner>/<name>/git/trees", endpoint="create_tree", methods=["POST"]),
            Rule("/repos/<owner>/<name>/git/blobs/<sha>", endpoint="get_blob", methods=["GET"]),
            Rule("/repos/<owner>/<name>/git/blobs", endpoint="create_blob", methods=["POST"]),
            Rule("/repos/<owner>/<name>/commits", endpoint="list_commits", methods=["GET"]),
            Rule("/repos/<owner>/<name>/commits/<sha>/check-runs", endpoint="list_check_runs", methods=["GET"]),
            Rule("/repos/<owner>/<name>/pulls", endpoint="list_pulls", methods=["GET"]),
            Rule("/repos/<owner>/<name>/pulls", endpoint="create_pull", methods=["POST"]),
            Rule("/repos/<owner>/<name>/pulls/<int:number>", endpoint="get_pull", methods=["GET"]),
            Rule("/repos/<owner>/<name>/pulls/<int:number>", endpoint="update_pull", methods=["PATCH"]),
            Rule("/repos/<owner>/<name>/issues/<int:number>/labels", endpoint="add_labels", methods=["POST"]),
            Rule("/repos/<owner>/<name>/issues/<int:number>/comments", endpoint="list_comments", methods=["GET"]),
            Rule("/repos/<owner>/<name>/issues/<int:number>/comments", endpoint="create_comment", methods=["POST"]),
            Rule("/repos/<owner>/<name>/issues/comments/<int:comment_id>", endpoint="update_comment",
                 methods=["PATCH"]),
        ])

    # Running ---------------------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # What tests arrange ----------------------------------------------------------------------

    def seed(self, files: dict[str, bytes], message: str = "Seed the GitOps repository") -> str:
        """The default branch with one commit holding `files`."""
        tree = self._write_tree(dict((path, self._store_blob(content)) for path, content in files.items()))
        sha = self._store_commit(tree, [], message)
        self.refs[f"heads/{self.default_branch}"] = sha
        return sha

    def push(self, files: dict[str, bytes | None], message: str = "A push", branch: str | None = None) -> str:
        """A commit on `branch` (default branch by default), as someone pushing to GitHub; None deletes."""
        branch = branch or self.default_branch
        parent = self.refs[f"heads/{branch}"]
        flat = self.files_at(parent, shas=True)
        for path, content in files.items():
            if content is None:
                flat.pop(path, None)
            else:
                flat[path] = self._store_blob(content)
        sha = self._store_commit(self._write_tree(flat), [parent], message)
        self.refs[f"heads/{branch}"] = sha
        return sha

    def add_pull(self, title: str, head: str, *, body: str = "", base: str | None = None) -> Pull:
        """A pull request someone opened on GitHub (the branch is created from the default branch)."""
        self.refs.setdefault(f"heads/{head}", self.refs[f"heads/{self.default_branch}"])
        return self._open_pull(title, body, head, base or self.default_branch, draft=False)

    def merge(self, number: int, by: str = "octocat") -> Pull:
        """Merge a pull request on GitHub (fast-forward of its base to the head)."""
        pull = self.pulls[number]
        now = self._tick()
        self.refs[f"heads/{pull.base}"] = pull.head_sha
        pull.state, pull.merged, pull.merged_by, pull.merged_at = "closed", True, by, now
        pull.closed_at = pull.updated_at = now
        pull.merge_commit_sha = pull.head_sha
        return pull

    def close(self, number: int) -> Pull:
        pull = self.pulls[number]
        pull.state, pull.closed_at, pull.updated_at = "closed", self._tick(), self._clock()
        return pull

    def add_check_run(self, sha: str, name: str, status: str = "completed", conclusion: str | None = "success") -> dict:
        """A check run CI reported on a commit (a later one with the same name replaces it)."""
        runs = [run for run in self.check_runs.get(sha, []) if run["name"] != name]
        run = {"id": 7000 + sum(len(r) for r in self.check_runs.values()) + len(runs), "name": name, "head_sha": sha,
               "status": status, "conclusion": conclusion if status == "completed" else None,
               "html_url": f"https://github.example/{self.repository}/runs/{name}"}
        self.check_runs[sha] = [*runs, run]
        return run

    def install_app(self, app_id: str, public_key_pem: bytes, installation_id: int) -> None:
        """A GitHub App installed on the repository; its installation tokens are the repository's token."""
        self.app = {"id": str(app_id), "public_key": public_key_pem, "installation": int(installation_id)}

    def fail_next(self, count: int = 1, status: int = 502) -> None:
        self._failures.extend([status] * count)

    def rate_limit_next(self, *, retry_after: int | None = None, reset_in: int | None = None, status: int = 403) -> None:
        """The next request is refused as over the rate limit, with GitHub's headers."""
        self._rate_limit = {"retry_after": retry_after, "reset_in": reset_in, "status": status}

    # What tests ask --------------------------------------------------------------------------

    def count(self, method: str | None = None, path: str = "", *, exact: bool = False) -> int:
        """Requests seen, by method and by the path after /repos/owner/name (its start, or all of it)."""
        wanted = f"/repos/{self.repository}{path}"
        return sum(1 for c in self.calls if (method is None or c.method == method)
                   and (c.path == wanted if exact else c.path.startswith(wanted)))

    def head(self, branch: str) -> str:
        return self.refs[f"heads/{branch}"]

    def files_at(self, ref: str, shas: bool = False) -> dict:
        """{path: content} (or blob SHA) of a branch or commit."""
        commit = self.refs.get(f"heads/{ref}", ref)
        flat = self._flatten(self.commits[commit]["tree"])
        return flat if shas else {path: self.blobs[sha] for path, sha in flat.items()}

    def commits_between(self, base: str, branch: str) -> list[dict]:
        """The commits on `branch` that are not on `base`, newest first."""
        seen, sha, ancestors = [], self.head(base), set()
        while sha:
            ancestors.add(sha)
            parents = self.commits[sha]["parents"]
            sha = parents[0] if parents else None
        sha = self.head(branch)
        while sha and sha not in ancestors:
            seen.append(self.commits[sha])
            parents = self.commits[sha]["parents"]
            sha = parents[0] if parents else None
        return seen

    # Git objects -------------------------------------------------------------------------------

    def _store_blob(self, content: bytes) -> str:
        sha = hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()
        self.blobs[sha] = content
        return sha

    def _write_tree(self, flat: dict[str, str]) -> str:
        """Nested git trees for {path: blob SHA}, hashed as git does; returns the root's SHA."""
        files, folders = {}, {}
        for path, sha in flat.items():
            head, _, rest = path.partition("/")
            if rest:
                folders.setdefault(head, {})[rest] = sha
            else:
                files[head] = sha
        entries = [{"path": name, "mode": "100644", "type": "blob", "sha": sha} for name, sha in files.items()]
        entries += [{"path": name, "mode": "040000", "type": "tree", "sha": self._write_tree(sub)}
                    for name, sub in folders.items()]
        entries.sort(key=lambda e: e["path"] + ("/" if e["type"] == "tree" else ""))
        raw = b"".join(f"{e['mode'].lstrip('0')} {e['path']}".encode() + b"\0" + bytes.fromhex(e["sha"])
                       for e in entries)
        sha = hashlib.sha1(b"tree %d\0" % len(raw) + raw, usedforsecurity=False).hexdigest()
        self.trees[sha] = entries
        return sha

    def _flatten(self, tree_sha: str, prefix: str = "") -> dict[str, str]:
        flat = {}
        for entry in self.trees[tree_sha]:
            if entry["type"] == "tree":
                flat.update(self._flatten(entry["sha"], f"{prefix}{entry['path']}/"))
            else:
                flat[f"{prefix}{entry['path']}"] = entry["sha"]
        return flat

    def _store_commit(self, tree: str, parents: list[str], message: str) -> str:
        when = self._tick()
        body = json.dumps({"tree": tree, "parents": parents, "message": message, "at": when.isoformat()})
        sha = hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest()
        self.commits[sha] = {"sha": sha, "tree": tree, "parents": parents, "message": message, "at": when}
        return sha

    def _open_pull(self, title: str, body: str, head: str, base: str, draft: bool) -> Pull:
        now = self._tick()
        pull = Pull(number=next(self._numbers), title=title, body=body, head=head,
                    head_sha=self.refs[f"heads/{head}"], base=base, draft=draft, created_at=now, updated_at=now)
        self.pulls[pull.number] = pull
        return pull

    def _tick(self) -> datetime:
        self._now = self._epoch + timedelta(seconds=next(self._ticks))
        return self._now

    def _clock(self) -> datetime:
        return getattr(self, "_now", self._epoch)

    # HTTP --------------------------------------------------------------------------------------

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            response = self._answer(request)
        return response(environ, start_response)

    def _answer(self, request: Request) -> Response:
        self.calls.append(Call(request.method, request.path, request.args.to_dict()))
        installation = re.fullmatch(r"/app/installations/(\d+)/access_tokens", request.path)
        if installation and request.method == "POST":
            return self._access_token(request, int(installation.group(1)))
        if request.headers.get("Authorization") != f"token {self.token}":
            return _error(401, "Bad credentials")
        if self._rate_limit is not None:
            limit, self._rate_limit = self._rate_limit, None
            return self._rate_limited(limit)
        if self._failures:
            status = self._failures.pop(0)
            return Response("<html><body><h1>Server Error</h1></body></html>", status=status, content_type="text/html")
        try:
            endpoint, args = self._routes.bind_to_environ(request.environ).match()
        except NotFound:
            return _error(404, "Not Found")
        except HTTPException as exc:
            return _error(exc.code or 405, exc.description or "")
        if f"{args.pop('owner')}/{args.pop('name')}" != self.repository or not self.exists:
            return _error(404, "Not Found")
        data = request.get_json(silent=True) if request.data else None
        return getattr(self, f"_{endpoint}")(request, data, **args)

    def _access_token(self, request: Request, installation: int) -> Response:
        """GitHub's installation token exchange: the JWT must be the App's, signed with its key."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if self.app is None or scheme != "Bearer":
            return _error(401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(token, self.app["public_key"], algorithms=["RS256"])
        except jwt.PyJWTError:
            return _error(401, "A JSON web token could not be decoded")
        if str(claims.get("iss")) != self.app["id"]:
            return _error(401, "'Issuer' claim ('iss') must be an Integer")
        if installation != self.app["installation"]:
            return _error(404, "Not Found")
        expires = datetime.now(UTC) + timedelta(hours=1)
        return _json({"token": self.token, "expires_at": _stamp(expires), "permissions": {"contents": "write"},
                      "repository_selection": "selected"}, 201)

    def _rate_limited(self, limit: dict) -> Response:
        headers = {"X-RateLimit-Limit": "5000", "X-RateLimit-Used": "5000"}
        if limit["retry_after"] is not None:
            headers["Retry-After"] = str(limit["retry_after"])
            message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        else:
            reset = int(datetime.now(UTC).timestamp()) + (limit["reset_in"] or 60)
            headers.update({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})
            message = "API rate limit exceeded for user ID 1."
        return _error(limit["status"], message, headers=headers)

    def _api(self, path: str) -> str:
        return f"{self.url}/repos/{self.repository}{path}"

    # Repository and git data -----------------------------------------------------------------

    def _repo(self, request, data):
        owner = self.repository.split("/")[0]
        return _json({"id": 1, "name": self.repository.split("/")[1], "full_name": self.repository,
                      "owner": {"login": owner}, "default_branch": self.default_branch, "private": True,
                      "url": f"{self.url}/repos/{self.repository}",
                      "html_url": f"https://github.example/{self.repository}"})

    def _ref_json(self, ref: str) -> dict:
        sha = self.refs[ref]
        return {"ref": f"refs/{ref}", "url": self._api(f"/git/refs/{ref}"),
                "object": {"sha": sha, "type": "commit", "url": self._api(f"/git/commits/{sha}")}}

    def _get_ref(self, request, data, ref):
        if ref not in self.refs:
            return _error(404, "Not Found")
        return _json(self._ref_json(ref))

    def _create_ref(self, request, data):
        ref = data["ref"].removeprefix("refs/")
        if ref in self.refs:
            return _validation("Reference already exists")
        if data["sha"] not in self.commits:
            return _validation("Object does not exist")
        self.refs[ref] = data["sha"]
        return _json(self._ref_json(ref), 201)

    def _update_ref(self, request, data, ref):
        if ref not in self.refs:
            return _validation("Reference does not exist")
        if not data.get("force") and not self._descends(data["sha"], self.refs[ref]):
            return _validation("Update is not a fast forward")
        self.refs[ref] = data["sha"]
        return _json(self._ref_json(ref))

    def _descends(self, sha: str, ancestor: str) -> bool:
        while sha:
            if sha == ancestor:
                return True
            parents = self.commits[sha]["parents"]
            sha = parents[0] if parents else None
        return False

    def _commit_json(self, sha: str) -> dict:
        commit = self.commits[sha]
        person = {"name": "NeuroScale Portal", "email": "portal@neuroscale.local",
                  "date": commit["at"].strftime("%Y-%m-%dT%H:%M:%SZ")}
        return {"sha": sha, "url": self._api(f"/git/commits/{sha}"), "message": commit["message"],
                "author": person, "committer": person,
                "tree": {"sha": commit["tree"], "url": self._api(f"/git/trees/{commit['tree']}")},
                "parents": [{"sha": p, "url": self._api(f"/git/commits/{p}")} for p in commit["parents"]]}

    def _get_commit(self, request, data, sha):
        if sha not in self.commits:
            return _error(404, "Not Found")
        return _json(self._commit_json(sha))

    def _create_commit(self, request, data):
        if data.get("tree") not in self.trees or any(p not in self.commits for p in data.get("parents", [])):
            return _validation("Tree SHA does not exist")
        sha = self._store_commit(data["tree"], list(data.get("parents", [])), data["message"])
        return _json(self._commit_json(sha), 201)

    def _get_tree(self, request, data, sha):
        # Like GitHub, any tree-ish: a tree SHA, a commit SHA or a branch name.
        sha = self.refs.get(f"heads/{sha}", sha)
        if sha in self.commits:
            sha = self.commits[sha]["tree"]
        if sha not in self.trees:
            return _error(404, "Not Found")
        if request.args.get("recursive"):
            flat, truncated = [], self.truncate_trees
            self._recursive_entries(sha, "", flat)
            entries = flat[: len(flat) // 2] if truncated else flat
        else:
            truncated = False
            entries = [dict(e) for e in self.trees[sha]]
        for entry in entries:
            kind = "blobs" if entry["type"] == "blob" else "trees"
            entry["url"] = self._api(f"/git/{kind}/{entry['sha']}")
        return _json({"sha": sha, "url": self._api(f"/git/trees/{sha}"), "tree": entries, "truncated": truncated})

    def _recursive_entries(self, tree_sha: str, prefix: str, out: list[dict]) -> None:
        for entry in self.trees[tree_sha]:
            out.append({**entry, "path": f"{prefix}{entry['path']}"})
            if entry["type"] == "tree":
                self._recursive_entries(entry["sha"], f"{prefix}{entry['path']}/", out)

    def _create_tree(self, request, data):
        base = data.get("base_tree")
        if base and base not in self.trees:
            return _validation("base_tree is not a valid tree oid")
        flat = self._flatten(base) if base else {}
        for entry in data["tree"]:
            if entry.get("sha", "missing") is None:
                if entry["path"] not in flat:
                    return _validation(f"GitRPC::BadObjectState: {entry['path']} does not exist in the base tree")
                del flat[entry["path"]]
            elif "content" in entry:
                flat[entry["path"]] = self._store_blob(entry["content"].encode())
            elif entry.get("sha") in self.blobs:
                flat[entry["path"]] = entry["sha"]
            else:
                return _validation(f"tree.sha {entry.get('sha')} is not a valid blob")
        sha = self._write_tree(flat)
        return _json({"sha": sha, "url": self._api(f"/git/trees/{sha}"), "tree": self.trees[sha],
                      "truncated": False}, 201)

    def _get_blob(self, request, data, sha):
        if sha not in self.blobs:
            return _error(404, "Not Found")
        content = self.blobs[sha]
        encoded = base64.encodebytes(content).decode()  # GitHub wraps base64 at 60 characters
        return _json({"sha": sha, "size": len(content), "url": self._api(f"/git/blobs/{sha}"),
                      "content": encoded, "encoding": "base64"})

    def _create_blob(self, request, data):
        raw = base64.b64decode(data["content"]) if data.get("encoding") == "base64" else data["content"].encode()
        sha = self._store_blob(raw)
        return _json({"sha": sha, "url": self._api(f"/git/blobs/{sha}")}, 201)

    # Pull requests, labels, comments --------------------------------------------------------

    def _pull_json(self, pull: Pull, *, full: bool) -> dict:
        stamp = _stamp
        owner = self.repository.split("/")[0]
        data = {
            "url": self._api(f"/pulls/{pull.number}"), "id": 1000 + pull.number, "number": pull.number,
            "html_url": f"https://github.example/{self.repository}/pull/{pull.number}",
            "issue_url": self._api(f"/issues/{pull.number}"), "state": pull.state, "title": pull.title,
            "body": pull.body, "draft": pull.draft, "locked": False, "user": {"login": pull.user, "id": 7},
            "labels": [{"name": name} for name in pull.labels],
            "head": {"ref": pull.head, "sha": self._head_of(pull), "label": f"{owner}:{pull.head}"},
            "base": {"ref": pull.base, "sha": self.refs.get(f"heads/{pull.base}", ""), "label": f"{owner}:{pull.base}"},
            "created_at": stamp(pull.created_at), "updated_at": stamp(pull.updated_at),
            "closed_at": stamp(pull.closed_at), "merged_at": stamp(pull.merged_at),
            "merge_commit_sha": pull.merge_commit_sha,
        }
        if full:  # only GET /pulls/{number} says whether and by whom it was merged
            data.update({"merged": pull.merged, "mergeable": pull.state == "open",
                         "merged_by": {"login": pull.merged_by, "id": 8} if pull.merged_by else None,
                         "comments": sum(1 for c in self.comments.values() if c["issue"] == pull.number)})
        return data

    def _head_of(self, pull: Pull) -> str:
        """An open pull request follows its branch; a closed one keeps the head it had."""
        if pull.state == "open":
            pull.head_sha = self.refs.get(f"heads/{pull.head}", pull.head_sha)
        return pull.head_sha

    def _list_commits(self, request, data):
        """The branch's history, newest first, simplified to commits that changed `path` as GitHub does."""
        sha = self.refs.get(f"heads/{request.args.get('sha', self.default_branch)}", request.args.get("sha"))
        if sha not in self.commits:
            return _error(404, "Not Found")
        prefix = request.args.get("path", "").rstrip("/")
        found = []
        while sha:
            commit = self.commits[sha]
            parents = commit["parents"]
            mine = self._under(self._flatten(commit["tree"]), prefix)
            before = self._under(self._flatten(self.commits[parents[0]]["tree"]), prefix) if parents else {}
            if not prefix or mine != before:
                found.append({"sha": sha, "url": self._api(f"/commits/{sha}"),
                              "commit": {"message": commit["message"], "tree": {"sha": commit["tree"]}},
                              "parents": [{"sha": p, "url": self._api(f"/commits/{p}")} for p in parents]})
            sha = parents[0] if parents else None
        return self._page(request, found)

    @staticmethod
    def _under(flat: dict[str, str], prefix: str) -> dict[str, str]:
        return {path: sha for path, sha in flat.items() if not prefix or path == prefix or path.startswith(f"{prefix}/")}

    def _list_check_runs(self, request, data, sha):
        sha = self.refs.get(f"heads/{sha}", sha)
        if sha not in self.commits:
            return _validation(f"No commit found for SHA: {sha}")
        runs = self.check_runs.get(sha, [])
        per_page = min(int(request.args.get("per_page", 30)), 100)
        page = int(request.args.get("page", 1))
        return _json({"total_count": len(runs), "check_runs": runs[(page - 1) * per_page: page * per_page]})

    def _list_pulls(self, request, data):
        state = request.args.get("state", "open")
        pulls = [p for p in self.pulls.values() if state == "all" or p.state == state]
        if request.args.get("head"):
            owner, _, branch = request.args["head"].partition(":")
            pulls = [p for p in pulls if p.head == branch and owner == self.repository.split("/")[0]]
        if request.args.get("sort") == "updated":
            pulls.sort(key=lambda p: (p.updated_at, p.number), reverse=request.args.get("direction") != "asc")
        else:
            pulls.sort(key=lambda p: p.number, reverse=True)
        return self._page(request, [self._pull_json(p, full=False) for p in pulls])

    def _create_pull(self, request, data):
        head = data["head"].split(":")[-1]
        if f"heads/{head}" not in self.refs:
            return _validation(f"Invalid value for head: {data['head']}", field="head")
        if any(p.head == head and p.state == "open" for p in self.pulls.values()):
            return _validation(f"A pull request already exists for {self.repository.split('/')[0]}:{head}.")
        if self.refs[f"heads/{head}"] == self.refs.get(f"heads/{data['base']}"):
            return _validation(f"No commits between {data['base']} and {head}")
        pull = self._open_pull(data["title"], data.get("body") or "", head, data["base"], bool(data.get("draft")))
        if self.fail_after_create_pull:
            self.fail_after_create_pull = False
            return Response("<html><body><h1>502 Bad Gateway</h1></body></html>", status=502, content_type="text/html")
        return _json(self._pull_json(pull, full=True), 201)

    def _get_pull(self, request, data, number):
        if number not in self.pulls:
            return _error(404, "Not Found")
        return _json(self._pull_json(self.pulls[number], full=True))

    def _update_pull(self, request, data, number):
        pull = self.pulls.get(number)
        if pull is None:
            return _error(404, "Not Found")
        for key in ("title", "body"):
            if key in data:
                setattr(pull, key, data[key])
        if data.get("state") == "closed" and pull.state == "open":
            pull.state, pull.closed_at = "closed", self._tick()
        pull.updated_at = self._tick()
        return _json(self._pull_json(pull, full=True))

    def _add_labels(self, request, data, number):
        pull = self.pulls.get(number)
        if pull is None:
            return _error(404, "Not Found")
        names = data if isinstance(data, list) else data.get("labels", [])
        pull.labels += [name for name in names if name not in pull.labels]
        pull.updated_at = self._tick()
        return _json([{"name": name} for name in pull.labels])

    def _comment_json(self, comment: dict) -> dict:
        return {"id": comment["id"], "body": comment["body"], "user": {"login": "portal-bot"},
                "url": self._api(f"/issues/comments/{comment['id']}"),
                "html_url": f"https://github.example/{self.repository}/pull/{comment['issue']}#issuecomment-{comment['id']}",
                "created_at": _stamp(comment["at"]), "updated_at": _stamp(comment["at"])}

    def _list_comments(self, request, data, number):
        if number not in self.pulls:
            return _error(404, "Not Found")
        found = [self._comment_json(c) for c in self.comments.values() if c["issue"] == number]
        return self._page(request, found)

    def _create_comment(self, request, data, number):
        if number not in self.pulls:
            return _error(404, "Not Found")
        comment = {"id": next(self._comment_ids), "issue": number, "body": data["body"], "at": self._tick()}
        self.comments[comment["id"]] = comment
        return _json(self._comment_json(comment), 201)

    def _update_comment(self, request, data, comment_id):
        comment = self.comments.get(comment_id)
        if comment is None:
            return _error(404, "Not Found")
        comment.update(body=data["body"], at=self._tick())
        return _json(self._comment_json(comment))

    def _page(self, request: Request, items: list) -> Response:
        """One page of a list, with GitHub's Link header pointing at the next and last pages."""
        per_page = min(int(request.args.get("per_page", 30)), 100)
        page = int(request.args.get("page", 1))
        last = max(1, -(-len(items) // per_page))
        response = _json(items[(page - 1) * per_page: page * per_page])
        links = []
        base = f"{self.url}{request.path}"
        query = request.args.to_dict()
        if page < last:
            links.append(f'<{base}?{urlencode({**query, "page": page + 1})}>; rel="next"')
            links.append(f'<{base}?{urlencode({**query, "page": last})}>; rel="last"')
        if links:
            response.headers["Link"] = ", ".join(links)
        return response


class _QuietHandler(WSGIRequestHandler):
    """No access log: tests count requests through `FakeGitHub.calls`."""

    def log_request(self, *args, **kwargs) -> None:
        pass


def _stamp(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _json(data, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(data), status=status, headers=headers or {}, content_type="application/json")


def _error(status: int, message: str, headers: dict | None = None) -> Response:
    return _json({"message": message, "documentation_url": DOCS, "status": str(status)}, status, headers)


def _validation(message: str, field: str | None = None) -> Response:
    error = {"resource": "PullRequest", "code": "custom", "message": message}
    if field:
        error.update(field=field, code="invalid")
    return _json({"message": "Validation Failed", "errors": [error], "documentation_url": DOCS, "status": "422"}, 422)


@contextlib.contextmanager
def serve(settings, *, secret: str = "whsec-test", repository: str = REPOSITORY):
    """A running fake, with the portal's settings pointing the GitHub provider at it."""
    fake = FakeGitHub(repository).start()
    settings.PORTAL_GITOPS_PROVIDER = "github"
    settings.PORTAL_GITHUB_REPOSITORY = fake.repository
    settings.PORTAL_GITHUB_TOKEN = fake.token
    settings.PORTAL_GITHUB_API_URL = fake.url
    settings.PORTAL_GITHUB_WEBHOOK_SECRET = secret
    settings.PORTAL_GITOPS_DEFAULT_BRANCH = fake.default_branch
    try:
        yield fake
    finally:
        fake.stop()
