"""The lines of a voucher, worked out from plain facts (no database): a sale, and the red-letter share of a refund.

Booking (reading the order, its parcels and the SKUs' costs, numbering, storing) is ``posting.py``'s; it calls these.

A sale of paid amount P (what the buyer paid, net of the platform's discounts) books:
    Dr 应收账款 (往来单位: the platform)      P
        Cr 主营业务收入                     P − VAT      (per line: paid / (1 + rate), rounded half up to the fen)
        Cr 应交税费—销项税额                VAT
    Dr 销售费用—平台佣金                  C = P × the channel's commission, rounded half up
        Cr 应付账款—平台佣金 (the platform)   C
    Dr 销售费用—快递运费                  F (the parcels' carrier fees)
        Cr 应付账款—快递费 (the carrier)      F            (one line per carrier)
    Dr 主营业务成本                       cost of the goods that left, at cost price
    Dr 销售费用—赠品                      cost of the gifts that left, at cost price
        Cr 库存商品                         both costs

A refund of R (its lines' refunds and the shipping refunded) books the same accounts in red (红字: negative
amounts on the same sides): receivable and revenue/VAT of what was refunded, the platform's commission on R, and
the cost of the units that came back and passed quality check (back on sale). Freight is not reversed: the parcel
was carried.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.domain.finance.models import LineKind


@dataclass(frozen=True)
class SaleLine:
    """A line the buyer paid for (gifts are paid nothing and book only their cost)."""

    sku: str
    paid_fen: int
    tax_bp: int


@dataclass(frozen=True)
class Sale:
    channel: str
    platform: str  # 往来单位 of the receivable and the commission payable
    lines: list[SaleLine]
    shipping_paid_fen: int
    commission_bp: int
    #: Carrier name → its fees for the order's parcels.
    freight_fen: dict[str, int] = field(default_factory=dict)
    #: VAT on the shipping the buyer paid: a 混合销售, taxed as the goods (the default rate).
    shipping_tax_bp: int = 1300
    #: The goods and gifts that left the warehouse: (sku, qty, unit cost, is_gift).
    shipped: list[tuple[str, int, int, bool]] = field(default_factory=list)


@dataclass(frozen=True)
class Entry:
    kind: LineKind
    summary: str
    debit_fen: int = 0
    credit_fen: int = 0
    partner: str = ""
    sku: str | None = None


def net_of_tax(gross_fen: int, rate_bp: int) -> tuple[int, int]:
    """Split a tax-inclusive amount into (net, VAT), rounded half up to the fen; they add up to the gross."""
    net = (gross_fen * 10000 * 2 + (10000 + rate_bp)) // ((10000 + rate_bp) * 2)
    return net, gross_fen - net


def sale_entries(sale: Sale) -> list[Entry]:
    """The balanced lines of a sale voucher (see the module's docstring)."""
    paid = sum(line.paid_fen for line in sale.lines) + sale.shipping_paid_fen
    entries = [Entry(LineKind.receivable, "销售应收", debit_fen=paid, partner=sale.platform)]
    entries.extend(_revenue_entries(sale.lines, sale.shipping_paid_fen, sale.shipping_tax_bp, "销售"))
    commission = share_of(paid, sale.commission_bp)
    if commission:
        entries.append(Entry(LineKind.commission, "平台佣金", debit_fen=commission))
        entries.append(Entry(LineKind.commission_payable, "平台佣金", credit_fen=commission, partner=sale.platform))
    for carrier, fee in sorted(sale.freight_fen.items()):
        if fee:
            entries.append(Entry(LineKind.freight, "快递运费", debit_fen=fee))
            entries.append(Entry(LineKind.freight_payable, "快递运费", credit_fen=fee, partner=carrier))
    entries.extend(_cost_entries(sale.shipped))
    assert_balanced(entries)
    return entries


@dataclass(frozen=True)
class RefundLine:
    """A refunded line: what was paid back, and the units that came back fit to sell again."""

    sku: str
    refund_fen: int
    tax_bp: int
    returned_qty: int = 0
    cost_fen: int = 0  # of one unit
    is_gift: bool = False


@dataclass(frozen=True)
class Refund:
    platform: str
    lines: list[RefundLine]
    shipping_refund_fen: int
    commission_bp: int
    shipping_tax_bp: int = 1300


def refund_entries(refund: Refund) -> list[Entry]:
    """The balanced lines of a red-letter voucher: the refunded share of the sale, negative (see the docstring)."""
    total = sum(line.refund_fen for line in refund.lines) + refund.shipping_refund_fen
    entries = [Entry(LineKind.receivable, "退款冲减应收", debit_fen=total, partner=refund.platform)]
    sold = [SaleLine(line.sku, line.refund_fen, line.tax_bp) for line in refund.lines]
    entries.extend(_revenue_entries(sold, refund.shipping_refund_fen, refund.shipping_tax_bp, "退款冲减"))
    commission = share_of(total, refund.commission_bp)
    if commission:
        entries.append(Entry(LineKind.commission, "退款冲减平台佣金", debit_fen=commission))
        entries.append(
            Entry(LineKind.commission_payable, "退款冲减平台佣金", credit_fen=commission, partner=refund.platform)
        )
    back = [(line.sku, line.returned_qty, line.cost_fen, line.is_gift) for line in refund.lines if line.returned_qty]
    entries.extend(_cost_entries(back, summary="退货入库冲减成本"))
    red = [
        Entry(e.kind, e.summary, debit_fen=-e.debit_fen, credit_fen=-e.credit_fen, partner=e.partner, sku=e.sku)
        for e in entries
    ]
    assert_balanced(red)
    return red


def share_of(amount_fen: int, rate_bp: int) -> int:
    """``amount × rate`` rounded half up to the fen (for a negative amount, half away from zero)."""
    sign = -1 if amount_fen < 0 else 1
    return sign * ((abs(amount_fen) * rate_bp * 2 + 10000) // 20000)


def _revenue_entries(lines: list[SaleLine], shipping_fen: int, shipping_tax_bp: int, verb: str) -> list[Entry]:
    """Revenue net of VAT and the VAT, per paid line, and for the shipping."""
    entries: list[Entry] = []
    for line in lines:
        if line.paid_fen == 0:
            continue
        net, vat = net_of_tax(line.paid_fen, line.tax_bp)
        entries.append(Entry(LineKind.revenue, f"{verb}收入 {line.sku}".strip(), credit_fen=net, sku=line.sku or None))
        if vat:
            entries.append(
                Entry(LineKind.output_vat, f"{verb}销项税额 {line.sku}".strip(), credit_fen=vat, sku=line.sku or None)
            )
    if shipping_fen:
        net, vat = net_of_tax(shipping_fen, shipping_tax_bp)
        entries.append(Entry(LineKind.revenue, f"{verb}运费收入", credit_fen=net))
        if vat:
            entries.append(Entry(LineKind.output_vat, f"{verb}运费销项税额", credit_fen=vat))
    return entries


def _cost_entries(items: list[tuple[str, int, int, bool]], summary: str = "销售出库") -> list[Entry]:
    """Cost of goods and of gifts at cost price, against inventory."""
    goods = sum(qty * cost for _, qty, cost, gift in items if not gift)
    gifts = sum(qty * cost for _, qty, cost, gift in items if gift)
    entries: list[Entry] = []
    if goods:
        entries.append(Entry(LineKind.cost_of_goods, f"{summary}成本", debit_fen=goods))
    if gifts:
        entries.append(Entry(LineKind.gift_cost, f"{summary}赠品成本", debit_fen=gifts))
    if goods + gifts:
        entries.append(Entry(LineKind.inventory, f"{summary}库存商品", credit_fen=goods + gifts))
    return entries


def apportion(total_fen: int, weights: list[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` (largest remainders get the odd fen); equal shares if all are 0."""
    if not weights:
        return []
    base = sum(weights)
    if base == 0:
        weights, base = [1] * len(weights), len(weights)
    exact = [total_fen * w for w in weights]
    shares = [e // base for e in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] % base), i))
    for i in order[: total_fen - sum(shares)]:
        shares[i] += 1
    return shares


def assert_balanced(entries: list[Entry]) -> None:
    """A voucher's debits equal its credits, and each line has one side only."""
    for entry in entries:
        if entry.debit_fen and entry.credit_fen:
            raise ValueError(f"a voucher line has both sides: {entry}")
    debits = sum(entry.debit_fen for entry in entries)
    credits = sum(entry.credit_fen for entry in entries)
    if debits != credits:
        raise ValueError(f"the voucher does not balance: debits {debits} ≠ credits {credits}")
