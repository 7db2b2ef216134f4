"""Labels for channels, statuses, tags and timeline entries, translated here and shown as escaped text."""

from __future__ import annotations

import json
from typing import Any

from app.i18n import N_, labeller

CHANNEL_LABELS = {
    "taobao": N_("Taobao"),
    "tmall": N_("Tmall"),
    "jd": N_("JD"),
    "douyin": N_("Douyin"),
    "kuaishou": N_("Kuaishou"),
    "youzan": N_("Youzan"),
    "wechat_channels": N_("WeChat Channels shop"),
    "wechat_miniprogram": N_("WeChat mini program"),
    "pos": N_("Store POS"),
    "webshop": N_("Web shop"),
    "community_group": N_("Community group buying"),
}
STATUS_LABELS = {
    "received": N_("Received"),
    "audited": N_("Audited"),
    "on_hold": N_("On hold"),
    "routed": N_("Routed"),
    "waybilled": N_("Waybill printed"),
    "shipped": N_("Shipped"),
    "delivered": N_("Delivered"),
    "completed": N_("Completed"),
    "cancelled": N_("Cancelled"),
}
TAG_LABELS = {
    "unpaid": N_("Unpaid"),
    "partially_refunded": N_("Partially refunded"),
    "refunded": N_("Refunded"),
    "presale": N_("Presale"),
    "unknown_sku": N_("Unknown SKU"),
}
EVENT_LABELS = {
    "received": N_("Order received"),
    "updated": N_("Updated by the channel"),
    "pii_revealed": N_("Personal data revealed"),
    "payload_revealed": N_("Original payload revealed"),
    "flows_ran": N_("Rule flows ran"),
    "status_changed": N_("Status changed"),
    "cancelled": N_("Cancelled"),
    "merged": N_("Merged into another order"),
    "merged_in": N_("Another order merged in"),
    "review_approved": N_("Approved in review"),
    "review_rejected": N_("Rejected in review"),
    "address_edited": N_("Address corrected"),
    "skus_resolved": N_("Lines matched to our SKUs"),
    "review_sku_mapped": N_("Unknown SKU mapped in review"),
    "balance_paid": N_("Presale balance paid"),
    "presale_overdue": N_("Presale balance overdue"),
    "processing_failed": N_("Processing failed"),
    "waybill": N_("Waybill issued"),
    "parcel_shipped": N_("Parcel shipped"),
    "written_back": N_("Shipment written back to the platform"),
    "write_back_failed": N_("Shipment write-back failed"),
    "write_back_retried": N_("Shipment write-back retried"),
    "changed_after_dispatch": N_("Changed after dispatch"),
    "changed_after_merge": N_("Changed after merging"),
    "till_sale": N_("Sold at the store till"),
    "parcel_delivered": N_("Parcel signed for"),
    "parcel_exception": N_("Parcel exception reported by the carrier"),
    "platform_finished": N_("Finished on the platform before it was shipped"),
    "auto_completed": N_("Completed automatically after delivery"),
    "intercept_requested": N_("Parcel intercepted"),
    "intercept_failed": N_("Parcel had already left (return needed)"),
    "intercept_pulled": N_("Intercepted parcel back on the shelf"),
    "waybill_voided": N_("Waybill voided at the carrier"),
    "waybill_void_refused": N_("The carrier refused to void the waybill"),
    "aftersale_opened": N_("After-sales case opened"),
    "aftersale_approved": N_("After-sales case approved"),
    "aftersale_refused": N_("After-sales case refused"),
    "aftersale_to_supervisor": N_("After-sales case sent to a supervisor"),
    "aftersale_return_shipped": N_("Buyer shipped the return"),
    "aftersale_received": N_("Return received and checked"),
    "aftersale_refunded": N_("Refund made"),
    "aftersale_sent_again": N_("Sent again (reissue or exchange)"),
    "aftersale_completed": N_("After-sales case completed"),
    "aftersale_refund_requested": N_("Refund agreed on the platform, waiting for its answer"),
    "aftersale_refund_failed": N_("The platform refused the refund"),
    "aftersale_refund_retried": N_("Refund agreed on the platform again (retry)"),
    "aftersale_cancelled": N_("After-sales case withdrawn or closed on the platform"),
}

IMPORT_STATUS_LABELS = {
    "queued": N_("Queued"),
    "running": N_("Importing"),
    "done": N_("Done"),
    "failed": N_("Failed"),
}


def event_detail(detail: Any) -> str:
    """An event's detail as readable text: ``key: value`` pairs, Chinese kept as it is (not \\u escapes)."""
    if not isinstance(detail, dict):
        return json.dumps(detail, ensure_ascii=False)
    parts = []
    for key, value in detail.items():
        shown = value if isinstance(value, str | int | float) else json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}: {shown}")
    return " · ".join(parts)


def payload_json(value: Any) -> str:
    """A payload as indented JSON with Chinese as written (the page escapes it like any text)."""
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)


def helpers() -> dict[str, Any]:
    """Template functions the order pages use: ``{{ channel_label(o.channel) }}`` (translated, never ``_()``)."""
    return {
        "channel_label": labeller(CHANNEL_LABELS),
        "status_label": labeller(STATUS_LABELS),
        "tag_label": labeller(TAG_LABELS),
        "event_label": labeller(EVENT_LABELS),
        "import_status_label": labeller(IMPORT_STATUS_LABELS),
        "event_detail": event_detail,
        "payload_json": payload_json,
    }
