"""The series a PromQL expression reads, for the checks that rules and dashboards name only what
the services export (tests/deploy/test_alerts.py, tests/e2e/test_x_dashboards.py)."""
import re

# PromQL's functions, operators and the labels the charts group by: words that look like names.
NOT_SERIES = {"sum", "rate", "increase", "min", "max", "absent", "vector", "time", "and", "or", "by", "without",
              "le", "histogram_quantile", "instance", "route", "status", "method", "code", "reason", "service",
              "verdict"}


def metric_names(expr: str) -> set[str]:
    """Identifiers followed by a selector, a range or `)`, once label matchers and strings are out."""
    expr = re.sub(r'\{[^}]*\}|"[^"]*"', "{}", expr)
    # Label lists of grouping and matching clauses: `sum by (topic, task) (…)`, `on (instance)`.
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    return set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[\{\[)]", expr)) - NOT_SERIES
