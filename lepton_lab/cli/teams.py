"""``lepton-lab teams``: teams and their members."""

from __future__ import annotations

import click

from lepton_lab.cli import CliState, output, pass_state
from lepton_lab.identity import Role
from lepton_lab.membership import TeamInfo

__all__ = ["teams"]


@click.group()
def teams() -> None:
    """Teams and their members: the namespaces datasets live in."""


@teams.command("list")
@pass_state
def list_teams(state: CliState) -> None:
    """List every team with its admins and how many members it has.

    Example: lepton-lab teams list
    """
    output.print_items(
        state.console,
        state.client.teams.list(),
        as_json=state.as_json,
        empty="no teams yet; create one: lepton-lab teams create SLUG",
    )


@teams.command()
@click.argument("slug")
@pass_state
def show(state: CliState, slug: str) -> None:
    """Show team SLUG: its title, description and members.

    Example: lepton-lab teams show science
    """
    _print_team(state, state.client.teams.get(slug))


@teams.command()
@click.argument("slug")
@click.option("--title", default="", help="A readable name [default: the slug].")
@click.option("--description", default="", metavar="TEXT", help="What the team is for (markdown).")
@pass_state
def create(state: CliState, slug: str, title: str, description: str) -> None:
    """Create team SLUG; you become its admin.

    Example: lepton-lab teams create science --title "Science"
    """
    info = state.client.teams.create(slug, title=title, description=description)
    _print_team(state, info, f"created team {info.slug}; you are its admin")


@teams.command("add-member")
@click.argument("slug")
@click.argument("user")
@click.option(
    "--role",
    type=click.Choice([r.name for r in Role]),
    default=Role.contributor.name,
    show_default=True,
    help="What the member may do; a member's role is changed the same way.",
)
@pass_state
def add_member(state: CliState, slug: str, user: str, role: str) -> None:
    """Add USER to team SLUG, or change their role (team admins).

    Example: lepton-lab teams add-member science bob --role editor
    """
    info = state.client.teams.add_member(slug, user, role)
    _print_team(state, info, f"{user} is now {info.members.get(user, role)} of team {info.slug}")


@teams.command("remove-member")
@click.argument("slug")
@click.argument("user")
@pass_state
def remove_member(state: CliState, slug: str, user: str) -> None:
    """Remove USER from team SLUG (team admins; the last admin stays).

    Example: lepton-lab teams remove-member science bob
    """
    info = state.client.teams.remove_member(slug, user)
    _print_team(state, info, f"removed {user} from team {info.slug}")


def _print_team(state: CliState, info: TeamInfo, headline: str | None = None) -> None:
    """The team as JSON, or a headline, its card and its members."""
    if state.as_json:
        output.emit_json(info.to_dict())
        return
    console = state.console
    if headline is not None:
        output.line(console, headline)
    title = f"{info.slug} — {info.title}" if info.title != info.slug else info.slug
    output.line(console, title, style="bold")
    console.print(output.markdown(info.description))
    created = info.created_at.strftime("%Y-%m-%d %H:%M")
    console.print(output.fields_table({"created": f"{created} by {info.created_by}"}))
    members = [{"member": user, "role": role} for user, role in info.members.items()]
    output.print_rows(console, members, empty="no members")
