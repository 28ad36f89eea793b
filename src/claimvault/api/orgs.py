"""Organization routes that carry no protected data: the organization's public profile for its members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from claimvault.accounts.services import get_organization_by_slug
from claimvault.security.context import UserContext
from claimvault.security.permissions import Permission
from claimvault.web.deps import RuntimeDep, requires

router = APIRouter(prefix="/api/v1/orgs/{org}", tags=["organizations"])


class OrganizationOut(BaseModel):
    slug: str
    name: str
    kind: str
    time_zone: str
    your_roles: list[str]


@router.get("", summary="The organization's profile and your roles in it")
def get_organization(
    org: str, runtime: RuntimeDep, ctx: Annotated[UserContext, Depends(requires(Permission.ORG_READ))]
) -> OrganizationOut:
    found = get_organization_by_slug(db=runtime.db, slug=org)
    return OrganizationOut(
        slug=found.slug,
        name=found.name,
        kind=found.kind,
        time_zone=found.time_zone,
        your_roles=sorted(ctx.roles),
    )
