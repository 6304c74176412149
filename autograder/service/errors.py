"""What the service answers when a request cannot be served: each error its own class, with
the HTTP status it earns and a message that says what to do next."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import GraderError


class ServiceError(GraderError):
    status = 400

    def __init__(self, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers = dict(headers or {})  # sent with the answer: how to authenticate, when to retry


class MissingToken(ServiceError):
    status = 401

    def __init__(self) -> None:
        super().__init__(
            "No token: send `Authorization: Bearer <your token>`. Your instructor gives you a token "
            "(`autograder tokens add NAME` prints one).",
            {"WWW-Authenticate": "Bearer"},
        )


class WrongToken(ServiceError):
    status = 401

    def __init__(self) -> None:
        super().__init__(
            "This token is not one the service knows (mistyped, or replaced by a newer one). "
            "Check it, or ask your instructor for a new one.",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


class NotYours(ServiceError):
    status = 403

    def __init__(self) -> None:
        super().__init__("This submission belongs to another learner: you can read only your own.")


class InstructorsOnly(ServiceError):
    status = 403

    def __init__(self) -> None:
        super().__init__(
            "Only instructors can see this; your token is a learner's. An instructor's token is made "
            "with `autograder tokens add NAME --instructor`."
        )


class NoSuchSubmission(ServiceError):
    status = 404

    def __init__(self, submission_id: str) -> None:
        super().__init__(f"There is no submission {submission_id!r}: use the id the upload answered with.")


class NoSuchLesson(ServiceError):
    status = 404

    def __init__(self, lesson: str, known: list[str]) -> None:
        super().__init__(f"There is no lesson {lesson!r}; the lessons are: {', '.join(known)}.")


class NoSuchLearner(ServiceError):
    status = 404

    def __init__(self, learner_id: int) -> None:
        super().__init__(f"There is no learner {learner_id}; each row of /api/instructor/class gives its learner_id.")


class TooLarge(ServiceError):
    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The upload is larger than {limit // 1024} KiB, more than a lesson notebook needs. "
            "Clear the outputs (Edit > Clear Outputs of All Cells), save, and submit again."
        )


class NotASubmission(ServiceError):
    """Not a notebook, or a notebook of no lesson of this course."""

    status = 422


class FormWithoutNotebook(NotASubmission):
    """A multipart form, but not one holding exactly one notebook."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"The upload is a multipart form, but {what}. Send the notebook as the form's one file "
            "(`curl -F file=@lesson.ipynb ...`), or as the request's whole body "
            "(`curl --data-binary @lesson.ipynb ...`, `autograder submit lesson.ipynb`)."
        )


class NestedTooDeeply(NotASubmission):
    def __init__(self) -> None:
        super().__init__(
            "The upload is JSON nested too deeply to read (lists or objects inside each other "
            "thousands of times), which no notebook is. Submit the lesson's .ipynb file as Jupyter "
            "saved it."
        )


class KeyTooLong(ServiceError):
    status = 400

    def __init__(self, limit: int, length: int) -> None:
        super().__init__(
            f"The Idempotency-Key header is {length} characters long; at most {limit} are accepted. "
            "Send a short unique key per submission (a UUID is 36 characters) and the same key "
            "with each retry of it."
        )


class KeyReused(ServiceError):
    # The IETF httpapi draft "The Idempotency-Key HTTP Header Field"
    # (draft-ietf-httpapi-idempotency-key-header-07, "Error Scenarios"): a key reused "with a
    # different request payload" SHOULD get 422; its 409 is for a retry that arrives while the
    # first request is still being processed, which cannot happen here (the key is looked up
    # under the learner's lock, after the first upload committed: ``Store.accept``).
    status = 422

    def __init__(self, first: str) -> None:
        super().__init__(
            f"This Idempotency-Key was already used for a different notebook (submission {first}); "
            "a key names one submission, and a retry must send the same body. To submit a changed "
            "notebook, send it with a new key (`autograder submit` makes one for each submission)."
        )


class TooMany(ServiceError):
    status = 429

    def __init__(self, per_minute: int, retry_after: int) -> None:
        super().__init__(
            f"You have made {per_minute} submissions in the last minute, the most allowed. "
            f"Submit again in {retry_after} s; your earlier submissions are being graded.",
            {"Retry-After": str(retry_after)},
        )


class BadRoster(ServiceError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"Cannot import the roster {path}: {reason}. A roster is a CSV file whose first line "
            "is `name,instructor` and each further line a person (instructor: yes or empty)."
        )


class BrokerUnreachable(ServiceError):
    status = 503

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(
            f"The job queue at {url} does not answer ({reason}). Start it (`autograder serve` starts "
            "one) or pass the right --broker URL."
        )
