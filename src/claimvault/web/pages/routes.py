"""The page routes, collected on one router that the app includes. Pages are not part of the API schema."""

from __future__ import annotations

from fastapi import APIRouter

from claimvault.web.pages import account, login, mfa

router = APIRouter(include_in_schema=False)
for _pages in (login.router, mfa.router, account.router):
    router.include_router(_pages)
