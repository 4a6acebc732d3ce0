"""Issuing statements: one per SME with lines, numbered per operator and year without gaps
(also with 16 runs racing on PostgreSQL), idempotent, the sweep and its task run twice."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import close_old_connections, connection

from billing.models import Statement, StatementLine, StatementSequence
from billing.statements import services, tasks
from core.errors import DomainError, ValidationFailed
from organizations.models import Organization
from tests.billing.conftest import NOVEMBER, OCTOBER, S, at, priced
from tests.factories import OrganizationFactory
from tests.fixtures.world import make_equipment

NOW = at(1, 9, month=12)
D = Decimal


def test_one_statement_per_sme_with_lines_numbered_in_order(equipment, sme, other_sme, grant):
    operator = equipment.hub.operator
    priced(equipment, sme, at(3), grant=grant, voucher="400.00")
    priced(equipment, sme, at(4), status=S.NO_SHOW)
    priced(equipment, other_sme, at(5))
    priced(equipment, other_sme, at(6), status=S.CANCELLED)  # nothing chargeable
    issued = services.issue_statements(operator=operator, month=date(2026, 11, 17), now=NOW)
    assert [(s.organization, s.number, s.year, s.month) for s in issued] == [
        (other_sme, 1, 2026, NOVEMBER), (sme, 2, 2026, NOVEMBER)]  # by name
    mine = issued[1]
    assert mine.code == "ST-AUTOWORKS-2026-00002"
    assert (mine.total, mine.voucher_total, mine.sme_total) == (D("1600.00"), D("400.00"),
                                                               D("1200.00"))
    assert [(li.position, li.booking.start, li.grant) for li in mine.lines.all()] == [
        (1, at(3), grant), (2, at(4), None)]
    assert mine.issued_at == NOW
    assert StatementSequence.objects.get(operator=operator, year=2026).last == 2


def test_a_second_run_issues_nothing_and_later_changes_wait_for_next_month(equipment, sme):
    operator = equipment.hub.operator
    booking = priced(equipment, sme, at(3), status=S.CONFIRMED)
    assert len(services.issue_statements(operator=operator, month=NOVEMBER, now=NOW)) == 1
    assert services.issue_statements(operator=operator, month=NOVEMBER, now=NOW) == []
    booking.status = S.NO_SHOW
    booking.save()
    priced(equipment, sme, at(20))  # a November booking stated late: next statement's
    assert services.issue_statements(operator=operator, month=NOVEMBER, now=NOW) == []
    assert Statement.objects.count() == 1


def test_no_lines_no_statement_and_numbers_restart_each_year(equipment, sme):
    operator = equipment.hub.operator
    assert services.issue_statements(operator=operator, month=NOVEMBER, now=NOW) == []
    priced(equipment, sme, at(3, month=12, year=2025))
    priced(equipment, sme, at(3, month=1, year=2026))
    [december] = services.issue_statements(operator=operator, month=date(2025, 12, 1), now=NOW)
    [january] = services.issue_statements(operator=operator, month=date(2026, 1, 1), now=NOW)
    assert (december.code, january.code) == ("ST-AUTOWORKS-2025-00001", "ST-AUTOWORKS-2026-00001")


def test_only_operators_issue_and_not_for_months_to_come(equipment, sme):
    with pytest.raises(DomainError) as refused:
        services.issue_statements(operator=sme, month=NOVEMBER, now=NOW)
    assert refused.value.code == "not_operator"
    with pytest.raises(ValidationFailed) as future:
        services.issue_statements(operator=equipment.hub.operator, month=date(2027, 1, 1),
                                  now=NOW)
    assert future.value.violations[0].code == "statement_month_in_future"


def test_the_sweep_states_last_month_once_and_its_task_runs_twice(equipment, sme,
                                                                  other_operator):
    priced(equipment, sme, at(3))
    priced(equipment, sme, at(3, month=12))  # this month: not yet
    assert services.issue_due_statements(NOW) == 1
    assert services.issue_due_statements(NOW + timedelta(days=1)) == 0
    assert tasks.issue_due_statements.apply().result == 0
    [statement] = Statement.objects.all()
    assert statement.month == NOVEMBER


# --- concurrency (PostgreSQL) -----------------------------------------------------------

RUNS = 16


def _race(jobs) -> list:
    """Run each job in its own thread and connection, all released at once."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def run(i, job):
        try:
            barrier.wait(timeout=30)
            results[i] = job()
        except Exception as exc:  # noqa: BLE001 - reported by the assertions below
            results[i] = exc
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sixteen_concurrent_runs_leave_no_gaps_and_no_duplicates(hub, category):
    """Sixteen runs at once for one operator: eight months of 2026, each asked twice, with
    an SME per month (two for some). Every number of the year is used once, 1..n."""
    operator = hub.operator
    equipment = make_equipment(hub, category, "race-1")
    months = [date(2026, m, 1) for m in range(3, 11)]  # March … October
    expected = 0
    for i, month in enumerate(months):
        for j in range(1 + i % 2):
            sme = OrganizationFactory(kind=Organization.Kind.SME, slug=f"sme-{i}-{j}")
            priced(equipment, sme, at(10 + j, 9, month=month.month))
            expected += 1
    jobs = [lambda m=month: services.issue_statements(operator=operator, month=m, now=NOW)
            for month in months for _twice in range(2)]
    assert len(jobs) == RUNS
    results = _race(jobs)
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    numbers = sorted(Statement.objects.filter(operator=operator, year=2026)
                     .values_list("number", flat=True))
    assert numbers == list(range(1, expected + 1))
    assert sum(len(r) for r in results) == expected
    assert StatementSequence.objects.get(operator=operator, year=2026).last == expected
    # Every booking stated exactly once.
    assert StatementLine.objects.count() == expected
    assert (StatementLine.objects.values("booking").distinct().count() == expected)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sixteen_first_runs_of_a_year_race_for_its_sequence_row(hub, category):
    """No sequence row yet: sixteen runs for sixteen SMEs' own months of one year all make
    it at once; one row, numbers 1..16."""
    operator = hub.operator
    equipment = make_equipment(hub, category, "race-2")
    jobs = []
    for i in range(RUNS):
        sme = OrganizationFactory(kind=Organization.Kind.SME, slug=f"first-{i}")
        month = date(2025, 1 + i % 12, 1)
        priced(equipment, sme, at(1 + i, 9, month=month.month, year=2025))
        jobs.append(lambda m=month: services.issue_statements(operator=operator, month=m,
                                                              now=NOW))
    results = _race(jobs)
    assert [r for r in results if isinstance(r, Exception)] == []
    assert sorted(Statement.objects.values_list("number", flat=True)) == list(range(1, 17))
    assert StatementSequence.objects.filter(operator=operator).count() == 1


def test_oct_and_nov_are_separate_statements(equipment, sme):
    operator = equipment.hub.operator
    priced(equipment, sme, at(3, month=10))
    priced(equipment, sme, at(3))
    [october] = services.issue_statements(operator=operator, month=OCTOBER, now=NOW)
    [november] = services.issue_statements(operator=operator, month=NOVEMBER, now=NOW)
    assert (october.number, november.number) == (1, 2)
    assert october.lines.get().booking.start == at(3, month=10)
