"""Every alert of the suite's PrometheusRule has its runbook, docs/runbooks/<alert>.md, which its
runbook_url points to and which says what it means, how to look and what to do; and the alerts
watch exactly the services that exist."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tools import deploy_files

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/k8s/components/monitoring/rules.yaml"
RUNBOOKS = ROOT / "docs/runbooks"


def _alerts() -> list[dict]:
    rule = yaml.safe_load(RULES.read_text())
    return [r for group in rule["spec"]["groups"] for r in group["rules"] if "alert" in r]


def test_every_alert_has_its_runbook():
    alerts = _alerts()
    assert alerts
    for alert in alerts:
        name = alert["alert"]
        url = alert["annotations"]["runbook_url"]
        assert url.endswith(f"/docs/runbooks/{name}.md"), (name, url)
        page = RUNBOOKS / f"{name}.md"
        assert page.is_file(), f"{name}: no {page.relative_to(ROOT)}"
        text = page.read_text()
        assert text.startswith(f"# {name}\n"), name
        for section in ("**What it means.**", "**How to look.**", "**What to do.**"):
            assert section in text, f"{name}: its runbook lacks {section}"


def test_every_runbook_is_of_an_alert_and_listed():
    names = {alert["alert"] for alert in _alerts()}
    pages = {p.stem for p in RUNBOOKS.glob("*.md")} - {"README"}
    assert pages == names
    index = (RUNBOOKS / "README.md").read_text()
    assert all(f"]({name}.md)" in index for name in names)


def test_the_alerts_watch_the_services_that_exist():
    services = "|".join(deploy_files.built())
    selectors = re.findall(
        r'(?:job|container|deployment|horizontalpodautoscaler)=~"([^"]+)"', RULES.read_text()
    )
    assert selectors and set(selectors) == {services}
