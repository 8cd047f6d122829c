"""The shopper's user in the Cognito user pool: read for an export, deleted by an erasure.

The pool signs shoppers in with their email (`UsernameAttributes: [email]`), so a user's
username is their `sub`, the shop's user id: the user id names the user in the pool.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from shop import aws
from shop.config import user_pool_id
from shop.dynamo import error_code

_GONE = "UserNotFoundException"


def attributes(user_id: str) -> dict[str, str] | None:
    """The user's attributes in the pool (email, name, phone, ...); None when the pool has no
    such user (deleted already, or a shopper the local platform's stand-in signed in)."""
    try:
        user = aws.client("cognito-idp").admin_get_user(UserPoolId=user_pool_id(), Username=user_id)
    except ClientError as error:
        if error_code(error) == _GONE:
            return None
        raise
    return {str(a["Name"]): str(a["Value"]) for a in user.get("UserAttributes", [])}


def delete_user(user_id: str) -> bool:
    """Delete the user from the pool: True if this call deleted it, False if it was gone
    already (a retried erasure)."""
    try:
        aws.client("cognito-idp").admin_delete_user(UserPoolId=user_pool_id(), Username=user_id)
    except ClientError as error:
        if error_code(error) == _GONE:
            return False
        raise
    return True
