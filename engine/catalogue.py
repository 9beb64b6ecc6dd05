"""The readable catalogue of a policy pack, rendered from the pack itself.

Reviewers, lawyers and marketplace staff read what each policy decides, where, from when, how sure the
research behind it is, and on which article of which text, without reading YAML. The catalogue is
generated (`tamis docs` writes `policies/CATALOGUE.md`), never edited by hand, and a test keeps the
committed file equal to what the pack renders, so it cannot drift from what the engine runs.
"""

from __future__ import annotations

from collections.abc import Iterable

from tamis.engine.fields import core_paths
from tamis.engine.model import Article, ArticleVersion, Instrument, Policy
from tamis.engine.policyset import PolicySet

#: The tag that names a policy's family; without one, the policy's folder is its family.
FAMILY_TAG = "family:"

HEADER = (
    "# Policy catalogue\n\n"
    "Generated from the policy pack by `tamis docs`; do not edit. Each policy says what it decides "
    "(**block**: offering it is illegal; **flag**: a person must look), where and when it applies, how "
    "sure the legal research behind it is, and the articles it rests on. Notes record doubts and "
    "choices.\n"
)


def family_of(policy: Policy, policy_file: str) -> str:
    """The policy's family: its `family:` tag, else the folder its file is in."""
    for tag in policy.tags:
        if tag.startswith(FAMILY_TAG):
            return tag[len(FAMILY_TAG) :]
    return policy_file.split("/", 1)[0] if "/" in policy_file else "other"


def families(policy_set: PolicySet) -> dict[str, list[Policy]]:
    """Policies grouped by family; families and policies in alphabetical order."""
    grouped: dict[str, list[Policy]] = {}
    for policy in policy_set.policies:
        grouped.setdefault(family_of(policy, policy_set.policy_files[policy.id]), []).append(policy)
    return {name: sorted(grouped[name], key=lambda p: p.id) for name in sorted(grouped)}


def render_catalogue(policy_set: PolicySet) -> str:
    """The whole catalogue as Markdown (deterministic: equal packs render equal text)."""
    grouped = families(policy_set)
    out = [HEADER]
    counts = [
        f"{len(policy_set.policies)} policies in {len(grouped)} families",
        f"{sum(p.decision == 'block' for p in policy_set.policies)} block",
        f"{sum(p.decision == 'flag' for p in policy_set.policies)} flag",
        f"{len(policy_set.instruments)} legal instruments",
        f"{len(policy_set.lexicons)} lexicons",
    ]
    out.append(", ".join(counts) + ".\n")
    out.append("| family | policies | block | flag |\n|---|---|---|---|")
    for name, policies in grouped.items():
        blocks = sum(p.decision == "block" for p in policies)
        out.append(f"| [{name}](#{_anchor(name)}) | {len(policies)} | {blocks} | {len(policies) - blocks} |")
    out.append("")
    for name, policies in grouped.items():
        out.append(f"## {name}\n")
        out.extend(_policy(policy_set, policy) for policy in policies)
    out.append("## Listing fields\n")
    out.append(_listing_fields())
    out.append("## Attributes\n")
    out.append(_attributes(policy_set))
    out.append("## Legal instruments\n")
    out.extend(_instrument(instrument) for _, instrument in sorted(policy_set.instruments.items()))
    return "\n".join(out).rstrip("\n") + "\n"


def _listing_fields() -> str:
    """The listing's core contract (engine.fields.LISTING), which every pack shares."""
    lines = ["| field | type | required | searched by lexicons | description |", "|---|---|---|---|---|"]
    for path, spec in core_paths().items():
        required, searched = ("yes" if flag else "" for flag in (spec.required, spec.searchable))
        lines.append(
            f"| `{path}` | {spec.kind.value} | {required} | {searched} | {_text(spec.description)} |"
        )
    return "\n".join(lines) + "\n"


def _attributes(policy_set: PolicySet) -> str:
    """The attributes listings may carry, as attributes.yaml declares them."""
    lines = [
        "| attribute | type | unit | marketplace names | read from text | description |",
        "|---|---|---|---|---|---|",
    ]
    for name, declared in sorted(policy_set.attributes.attributes.items()):
        kind = declared.type + (f" ({', '.join(declared.values)})" if declared.values else "")
        aliases = ", ".join(f"`{alias}`" for alias in declared.aliases)
        read = "yes" if declared.from_text else ""
        unit = declared.unit or ""
        lines.append(f"| `{name}` | {kind} | {unit} | {aliases} | {read} | {_text(declared.description)} |")
    return "\n".join(lines) + "\n"


def _policy(policy_set: PolicySet, policy: Policy) -> str:
    lines = [f"### `{policy.id}`", "", f"**{_text(policy.title)}**", ""]
    facts = [
        f"- Decision: **{policy.decision}**",
        f"- Applies in: {_where(policy)}",
        f"- In force: {_when(policy.in_force.from_, policy.in_force.to)}",
        f"- Confidence: {policy.confidence.value}",
    ]
    lines += facts
    lines.append("- Grounds:")
    for ground in policy.grounds:
        instrument = policy_set.instruments[ground.instrument]
        lines.append("  - " + _ground(instrument, ground.article, instrument.articles[ground.article]))
    if policy.description:
        lines += ["", _text(policy.description)]
    if policy.note:
        lines += ["", f"*Note:* {_text(policy.note)}"]
    return "\n".join(lines) + "\n"


def _ground(instrument: Instrument, number: str, article: Article) -> str:
    name = instrument.short or instrument.title
    url = article.url or _latest_url(article.versions) or instrument.url
    parts = [f"{_text(name)} art. {number} ([{instrument.instrument}]({url}))"]
    if article.title:
        parts.append(f"— {_text(article.title)}")
    if article.confidence.value != "high":
        parts.append(f"(article confidence: {article.confidence.value})")
    text = " ".join(parts)
    if article.versions:
        text += "; versions: " + ", ".join(_version(v) for v in article.versions)
    return text


def _instrument(instrument: Instrument) -> str:
    where = f"`{instrument.instrument}`, {instrument.jurisdiction}, <{instrument.url}>"
    lines = [f"- **{_text(instrument.title)}** — {where}"]
    if instrument.note:
        lines.append(f"  - *Note:* {_text(instrument.note)}")
    return "\n".join(lines)


def _version(version: ArticleVersion) -> str:
    span = _when(version.from_, version.to)
    return f"{version.id} ({span})" if version.id else span


def _latest_url(versions: Iterable[ArticleVersion]) -> str | None:
    urls = [version.url for version in versions if version.url]
    return urls[-1] if urls else None


def _where(policy: Policy) -> str:
    text = ", ".join(policy.applies_in)
    return text + (f" except {', '.join(policy.except_in)}" if policy.except_in else "")


def _when(start: object, end: object) -> str:
    if start and end:
        return f"{start} to {end}"
    if start:
        return f"from {start}"
    return f"until {end}" if end else "always"


def _text(text: str) -> str:
    """One line of Markdown: whitespace collapsed, table pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _anchor(heading: str) -> str:
    return "".join(c for c in heading.lower().replace(" ", "-") if c.isalnum() or c in "-_")
