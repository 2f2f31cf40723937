"""Rules for panel accounts: what a valid sign-up is, and when log-ins are throttled. No I/O."""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email

OPERATOR = "operator"
PROVIDER_ADMIN = "provider-admin"
ROLES = (OPERATOR, PROVIDER_ADMIN)

OPERATOR_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
OPERATOR_NAME_RULE = "3 to 32 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen"
PASSWORD_MIN, PASSWORD_MAX = 12, 256


def normal_email(email: str) -> str:
    return email.strip().lower()


def email_problem(email: str) -> str | None:
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None if len(email) <= 254 else "must be at most 254 characters"


def password_problem(password: str) -> str | None:
    if len(password) < PASSWORD_MIN:
        return f"must be at least {PASSWORD_MIN} characters"
    if len(password) > PASSWORD_MAX:
        return f"must be at most {PASSWORD_MAX} characters"
    return None


def sign_up_problems(email: str, operator_id: str, password: str) -> dict[str, str]:
    """Field name -> what is wrong with it, for the form fields of the sign-up page."""
    problems = {
        "email": email_problem(email),
        "operator_id": None if OPERATOR_NAME.match(operator_id) else f"must be {OPERATOR_NAME_RULE}",
        "password": password_problem(password),
    }
    return {field: message for field, message in problems.items() if message}


@dataclass(frozen=True)
class LoginLimit:
    attempts: int
    window: timedelta

    def since(self, moment: datetime) -> datetime:
        return moment - self.window

    def wait(self, failures: int, oldest: datetime | None, moment: datetime) -> timedelta | None:
        """How long until another attempt is allowed, or None when it is allowed now."""
        if failures < self.attempts or oldest is None:
            return None
        return max(oldest + self.window - moment, timedelta(seconds=1))


def client_limit(per_email: LoginLimit) -> LoginLimit:
    """One client address may try several e-mail addresses, so it gets more tries than one address."""
    return LoginLimit(per_email.attempts * 10, per_email.window)
