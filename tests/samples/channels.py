"""Realistic order payloads per platform, with the field names, units and formats of CHANNELS.md.

Each function returns a fresh dict so a test may change it. SKU codes match the demo SKUs (PHONE-X1, …).
"""

from __future__ import annotations

from typing import Any


def taobao_multi_line_with_gift() -> dict[str, Any]:
    """Tmall, paid, three lines (one a gift), a shop-level discount split over the lines."""
    return {
        "tid": 3958201746251038211,
        "status": "WAIT_SELLER_SEND_GOODS",
        "type": "fixed",
        "created": "2026-11-11 00:03:12",
        "pay_time": "2026-11-11 00:03:40",
        "modified": "2026-11-11 00:03:41",
        "buyer_nick": "t**小王",
        "buyer_open_uid": "AAH7xk3mQ5ZpLrT2",
        "total_fee": "4057.00",
        "post_fee": "0.00",
        "discount_fee": "200.00",
        "payment": "3857.00",
        "receiver_name": "王小明",
        "receiver_mobile": "13812345678",
        "receiver_state": "上海",
        "receiver_city": "上海市",
        "receiver_district": "浦东新区",
        "receiver_town": "张江镇",
        "receiver_address": "张江路 88 弄 6 号 1202 室",
        "receiver_zip": "201203",
        "buyer_message": "请周末送货",
        "seller_memo": "",
        "orders": {
            "order": [
                {
                    "oid": 3958201746252038211,
                    "num_iid": 682310011,
                    "sku_id": "5112200001",
                    "outer_sku_id": "PHONE-X1",
                    "title": "星河 X1 手机 8+256G",
                    "num": 1,
                    "price": "3999.00",
                    "total_fee": "3999.00",
                    "payment": "3809.00",
                    "divide_order_fee": "3809.00",
                    "sku_properties_name": "颜色:黑色;存储:256G",
                    "refund_status": "NO_REFUND",
                },
                {
                    "oid": 3958201746253038211,
                    "num_iid": 682310099,
                    "sku_id": "5112200088",
                    "outer_sku_id": "CABLE-C1",
                    "title": "快充数据线 1m",
                    "num": 2,
                    "price": "29.00",
                    "total_fee": "58.00",
                    "payment": "48.00",
                    "divide_order_fee": "48.00",
                    "refund_status": "NO_REFUND",
                },
                {
                    "oid": 3958201746254038211,
                    "num_iid": 682310777,
                    "sku_id": "5112200777",
                    "outer_sku_id": "GIFT-TOTE-01",
                    "title": "品牌帆布袋（赠品）",
                    "num": 1,
                    "price": "0.00",
                    "total_fee": "0.00",
                    "payment": "0.00",
                    "divide_order_fee": "0.00",
                    "is_gift": True,
                    "refund_status": "NO_REFUND",
                },
            ]
        },
    }


def taobao_presale_deposit_paid() -> dict[str, Any]:
    """Taobao 定金预售: deposit paid, balance not yet; the receiver is hidden behind an oaid."""
    return {
        "tid": "3958201746251039999",
        "status": "WAIT_BUYER_PAY",
        "type": "step",
        "step_trade_status": "FRONT_PAID_FINAL_NOPAID",
        "step_paid_fee": "50.00",
        "created": "2026-10-24 20:00:05",
        "pay_time": "2026-10-24 20:00:30",
        "modified": "2026-10-24 20:00:31",
        "buyer_nick": "l**a",
        "oaid": "1a2B3c4D5e6F7g8H9i0Jk",
        "total_fee": "259.00",
        "post_fee": "0.00",
        "discount_fee": "0.00",
        "payment": "259.00",
        "receiver_name": "李**",
        "receiver_state": "浙江省",
        "receiver_city": "杭州市",
        "receiver_district": "西湖区",
        "receiver_address": "文三路****",
        "orders": [
            {
                "oid": "3958201746251040000",
                "sku_id": "6010",
                "outer_sku_id": "SERUM-30",
                "title": "玻尿酸精华 30ml",
                "num": 1,
                "price": "259.00",
                "total_fee": "259.00",
                "payment": "259.00",
            },
        ],
    }


def taobao_bundle_partially_refunded() -> dict[str, Any]:
    """A 套餐 (item_meal) line plus a line that was refunded after shipping."""
    return {
        "tid": "3958201746251047777",
        "status": "WAIT_BUYER_CONFIRM_GOODS",
        "created": "2026-11-01 10:00:00",
        "pay_time": "2026-11-01 10:01:00",
        "modified": "2026-11-03 18:20:00",
        "buyer_nick": "z**g",
        "total_fee": "428.00",
        "post_fee": "10.00",
        "discount_fee": "0.00",
        "payment": "438.00",
        "receiver_name": "张三",
        "receiver_mobile": "13700001111",
        "receiver_state": "广东省",
        "receiver_city": "深圳市",
        "receiver_district": "南山区",
        "receiver_address": "科技园南区 2 栋 301",
        "orders": [
            {
                "oid": "1",
                "outer_sku_id": "SET-SKIN",
                "title": "护肤套装",
                "num": 1,
                "price": "329.00",
                "total_fee": "329.00",
                "payment": "329.00",
                "item_meal_id": 7781,
                "item_meal_name": "护肤套装（精华+面膜）",
            },
            {
                "oid": "2",
                "outer_sku_id": "MASK-10",
                "title": "补水面膜 10 片装",
                "num": 1,
                "price": "99.00",
                "total_fee": "99.00",
                "payment": "99.00",
                "refund_status": "SUCCESS",
            },
        ],
    }


def jd_order_with_coupon_and_gift() -> dict[str, Any]:
    """JD POP: yuan strings, a seller coupon on one SKU, a 0-priced gift, a masked mobile, unset end time."""
    return {
        "orderId": "285019374621",
        "venderId": "10086",
        "orderType": "22",
        "orderState": "WAIT_SELLER_STOCK_OUT",
        "orderStartTime": "2026-11-11 09:15:00",
        "paymentConfirmTime": "2026-11-11 09:15:30",
        "orderEndTime": "0001-01-01 00:00:00",
        "modified": "2026-11-11 09:16:00",
        "pin": "jd_4f1c2b9a",
        "orderTotalPrice": "528.00",
        "orderSellerPrice": "508.00",
        "orderPayment": "508.00",
        "freightPrice": "0.00",
        "sellerDiscount": "20.00",
        "orderRemark": "",
        "venderRemark": "老客户",
        "consigneeInfo": {
            "fullname": "刘洋",
            "mobile": "139****1024",
            "telephone": "",
            "province": "北京",
            "city": "北京市",
            "county": "朝阳区",
            "town": "建外街道",
            "fullAddress": "北京朝阳区建外街道建国路 88 号 SOHO 现代城 5 号楼",
        },
        "itemInfoList": [
            {
                "skuId": "100012",
                "outerSkuId": "EARBUD-P2",
                "skuName": "声悦 P2 无线耳机",
                "wareId": "9001",
                "jdPrice": "499.00",
                "itemTotal": "1",
            },
            {
                "skuId": "100013",
                "outerSkuId": "CABLE-C1",
                "skuName": "快充数据线 1m",
                "wareId": "9002",
                "jdPrice": "29.00",
                "itemTotal": "1",
            },
            {
                "skuId": "100099",
                "outerSkuId": "GIFT-TOTE-01",
                "skuName": "品牌帆布袋（赠品）",
                "wareId": "9099",
                "jdPrice": "0.00",
                "itemTotal": "1",
                "giftPoint": "0",
            },
        ],
        "couponDetailList": [
            {"orderId": "285019374621", "skuId": "100012", "couponType": "39-商家优惠", "couponPrice": "20.00"}
        ],
    }


def douyin_presale_bundle_gift_refund() -> dict[str, Any]:
    """抖店: deposit presale (trade_type 2), a bundle line, a FREE gift, one line refunded; fen and unix seconds."""
    return {
        "order_id": "6921234567890123456",
        "order_status": 2,
        "order_status_desc": "备货中",
        "trade_type": 2,
        "create_time": 1794326400,
        "pay_time": 1794326460,
        "update_time": 1794326500,
        "order_amount": 42800,
        "pay_amount": 41800,
        "post_amount": 0,
        "promotion_amount": 1000,
        "doudian_open_id": "1@#AbCdEf==",
        "buyer_words": "送人的，不要放发票",
        "seller_words": "",
        "mask_post_receiver": "陈*",
        "mask_post_tel": "1********35",
        "encrypt_post_tel": "#1a2b3c#XyZ==*CgYIASAHKAE=#1##",
        "post_addr": {
            "province": {"name": "四川省", "id": "51"},
            "city": {"name": "成都市", "id": "5101"},
            "town": {"name": "武侯区", "id": "510107"},
            "street": {"name": "玉林街道", "id": "510107001"},
            "detail": "#encrypted-detail#",
        },
        "mask_post_addr": {"detail": "玉林北路**号***"},
        "sku_order_list": [
            {
                "order_id": "6921234567890123457",
                "parent_order_id": "6921234567890123456",
                "product_id": "3600001",
                "sku_id": "1700001",
                "out_sku_id": "SET-SKIN",
                "code": "SET-SKIN",
                "product_name": "护肤套装（精华+面膜）",
                "spec": [{"name": "规格", "value": "套装"}],
                "item_num": 1,
                "origin_amount": 32900,
                "pay_amount": 31900,
                "goods_type": 0,
                "trade_type": 2,
                "pre_sale_type": 1,
                "given_product_type": "MASTER",
                "bundle_sku_info": [
                    {"sku_id": "1700101", "code": "SERUM-30", "item_num": 1, "product_name": "精华"},
                    {"sku_id": "1700102", "code": "MASK-10", "item_num": 1, "product_name": "面膜"},
                ],
                "after_sale_info": {"after_sale_status": 0, "refund_status": 0},
            },
            {
                "order_id": "6921234567890123458",
                "parent_order_id": "6921234567890123456",
                "product_id": "3600002",
                "sku_id": "1700002",
                "out_sku_id": "MASK-10",
                "product_name": "补水面膜 10 片装",
                "item_num": 1,
                "origin_amount": 9900,
                "pay_amount": 9900,
                "given_product_type": "MASTER",
                "after_sale_info": {"after_sale_status": 12, "refund_status": 3},
            },
            {
                "order_id": "6921234567890123459",
                "parent_order_id": "6921234567890123456",
                "product_id": "3600009",
                "sku_id": "1700009",
                "out_sku_id": "GIFT-TOTE-01",
                "product_name": "品牌帆布袋",
                "item_num": 1,
                "origin_amount": 0,
                "pay_amount": 0,
                "given_product_type": "FREE",
            },
        ],
    }


def douyin_cancelled() -> dict[str, Any]:
    order = douyin_presale_bundle_gift_refund()
    order.update({"order_id": "6921234567890000001", "order_status": 4, "trade_type": 0, "update_time": 1794336000})
    for line in order["sku_order_list"]:
        line["trade_type"] = 0
        line.pop("pre_sale_type", None)
    return order


def kuaishou_paid() -> dict[str, Any]:
    """快手: fen, unix milliseconds, desensitised receiver."""
    return {
        "orderBaseInfo": {
            "oid": 2411110012345678,
            "status": 30,
            "createTime": 1794326400000,
            "payTime": 1794326410000,
            "updateTime": 1794326420000,
            "totalFee": 8900,
            "expressFee": 0,
            "discountFee": 1000,
            "buyerOpenId": "f18b2c0e",
            "buyerNick": "快手用户8812",
            "remark": "",
            "preSale": 0,
        },
        "orderItemInfo": {
            "orderItemId": 2411110012345679,
            "skuId": 88100,
            "relSkuId": "MASK-10",
            "itemId": 7710,
            "itemTitle": "补水面膜 10 片装",
            "num": 1,
            "originalPrice": 9900,
            "price": 8900,
            "discountFee": 0,
        },
        "orderAddress": {
            "desensitiseConsignee": "赵*",
            "desensitiseMobile": "158****6621",
            "encryptedMobile": "##ks-enc##",
            "desensitiseAddress": "湖北省武汉市洪山区珞喻路***",
            "province": "湖北省",
            "provinceCode": 420000,
            "city": "武汉市",
            "cityCode": 420100,
            "district": "洪山区",
            "districtCode": 420111,
            "town": "",
        },
    }


def youzan_presale_with_present() -> dict[str, Any]:
    """有赞: yuan strings in pay_info, a present (is_present), phase payments, an encrypted phone."""
    return {
        "full_order_info": {
            "order_info": {
                "tid": "E20261111083000012345",
                "status": "WAIT_SELLER_SEND_GOODS",
                "created": "2026-11-11 08:30:00",
                "pay_time": "2026-11-11 08:30:20",
                "update_time": "2026-11-11 08:30:21",
                "type": 0,
            },
            "buyer_info": {"yz_open_id": "yz_8f7e6d", "fans_nickname": "有赞小张", "union_id": ""},
            "address_info": {
                "receiver_name": "张**",
                "receiver_tel": "$158$1$c2VjcmV0$1$",
                "delivery_province": "江苏省",
                "delivery_city": "南京市",
                "delivery_district": "鼓楼区",
                "delivery_address": "$中山路$1$ZW5j$1$",
            },
            "pay_info": {
                "total_fee": "79.00",
                "post_fee": "8.00",
                "payment": "77.00",
                "phase_payments": [
                    {
                        "phase": 1,
                        "real_price": "20.00",
                        "pay_start_time": "2026-11-01 00:00:00",
                        "pay_end_time": "2026-11-10 23:59:59",
                    },
                    {
                        "phase": 2,
                        "real_price": "57.00",
                        "pay_start_time": "2026-11-11 00:00:00",
                        "pay_end_time": "2026-11-13 23:59:59",
                    },
                ],
            },
            "remark_info": {"buyer_message": "", "trade_memo": "预售"},
            "orders": [
                {
                    "oid": "1468001",
                    "item_id": 5501,
                    "sku_id": 77001,
                    "outer_sku_id": "TEE-BLK-L",
                    "title": "纯棉T恤 黑色 L",
                    "num": 1,
                    "price": "79.00",
                    "total_fee": "79.00",
                    "payment": "69.00",
                    "discount_fee": "10.00",
                    "sku_properties_name": '[{"k":"颜色","v":"黑色"}]',
                    "is_present": False,
                },
                {
                    "oid": "1468002",
                    "item_id": 5599,
                    "sku_id": 77099,
                    "outer_sku_id": "GIFT-TOTE-01",
                    "title": "帆布袋",
                    "num": 1,
                    "price": "0.00",
                    "total_fee": "0.00",
                    "payment": "0.00",
                    "is_present": True,
                },
            ],
        }
    }


def wechat_channels_order(unionid: str = "oUnion_9Xk2Lm") -> dict[str, Any]:
    """视频号小店: fen, unix seconds, unionid, clear phone, a free gift line."""
    return {
        "order_id": "3712345678901234567",
        "status": 20,
        "create_time": 1794331800,
        "update_time": 1794331900,
        "openid": "o_channels_abc",
        "unionid": unionid,
        "order_detail": {
            "product_infos": [
                {
                    "product_id": "10000031",
                    "sku_id": "20000031",
                    "sku_cnt": 2,
                    "out_sku_id": "YOGURT-6",
                    "title": "鲜酸奶 6 杯装",
                    "sku_attrs": [{"attr_key": "规格", "attr_value": "6 杯"}],
                    "sale_price": 3990,
                    "real_price": 7480,
                },
                {
                    "product_id": "10000099",
                    "sku_id": "20000099",
                    "sku_cnt": 1,
                    "out_sku_id": "GIFT-TOTE-01",
                    "title": "帆布袋",
                    "sale_price": 0,
                    "real_price": 0,
                    "is_free_gift": True,
                },
            ],
            "price_info": {"product_price": 7980, "order_price": 7480, "freight": 0, "discounted_price": 500},
            "pay_info": {"pay_time": 1794331830},
            "delivery_info": {
                "address_info": {
                    "user_name": "周婷",
                    "tel_number": "13911112222",
                    "province_name": "上海市",
                    "city_name": "上海市",
                    "county_name": "静安区",
                    "detail_info": "南京西路 1266 号 3 楼",
                    "postal_code": "200040",
                }
            },
            "ext_info": {"customer_notes": "冷藏发货", "merchant_notes": ""},
        },
    }


def pos_order(order_id: str = "POS-20261111-0001", unionid: str = "oUnion_9Xk2Lm") -> dict[str, Any]:
    """The brand's till, in the generic format: a member who scanned the WeChat member code."""
    return {
        "order_id": order_id,
        "status": "completed",
        "created_at": "2026-11-12 15:20:00",
        "paid_at": "2026-11-12 15:20:05",
        "buyer": {"id": "member-3321", "nick": "会员 周婷", "unionid": unionid},
        "receiver": {
            "name": "周婷",
            "phone": "13911112222",
            "province": "上海",
            "city": "上海市",
            "district": "静安区",
            "address": "门店自提",
        },
        "lines": [{"line_id": "1", "sku": "TEE-BLK-L", "title": "纯棉T恤 黑色 L", "qty": 1, "unit_price_fen": 7900}],
    }


# --- presale as each platform sends it ----------------------------------------------------------------


def taobao_step_trade_deposit_paid() -> dict[str, Any]:
    """Tmall 定金预售 (``type`` step): the deposit (``step_paid_fee``) paid, the balance not; TOP sends no balance due
    time. The receiver in clear."""
    return {
        "tid": "3958201746251051111",
        "status": "WAIT_BUYER_PAY",
        "type": "step",
        "step_trade_status": "FRONT_PAID_FINAL_NOPAID",
        "step_paid_fee": "50.00",
        "created": "2026-11-01 20:00:00",
        "pay_time": "2026-11-01 20:00:30",
        "modified": "2026-11-01 20:00:40",
        "buyer_nick": "s**i",
        "buyer_open_uid": "AAH7step0001",
        "total_fee": "259.00",
        "post_fee": "0.00",
        "discount_fee": "0.00",
        "payment": "259.00",
        "receiver_name": "孙丽",
        "receiver_mobile": "13912340001",
        "receiver_state": "浙江省",
        "receiver_city": "杭州市",
        "receiver_district": "西湖区",
        "receiver_address": "文三路 90 号 3 幢 502 室",
        "orders": {
            "order": [
                {
                    "oid": "3958201746251051112",
                    "sku_id": "6010",
                    "outer_sku_id": "SERUM-30",
                    "title": "玻尿酸精华 30ml（预售）",
                    "num": 1,
                    "price": "259.00",
                    "total_fee": "259.00",
                    "payment": "259.00",
                }
            ]
        },
    }


def douyin_deposit_presale(*, phases: bool = True) -> dict[str, Any]:
    """抖店 定金预售 (trade_type 2) with the deposit paid: ``order_phase_list`` gives the deposit (phase 1, paid)
    and the balance (phase 2) with ``phase_close_time``, its due time; ``phases=False`` leaves the list out, as
    orders often come, with no due time at all. The receiver in clear."""
    order = {
        "order_id": "6921234567890220001",
        "order_status": 2,
        "order_status_desc": "备货中",
        "trade_type": 2,
        "create_time": 1793534400,
        "pay_time": 1793534430,
        "update_time": 1793534440,
        "order_amount": 25900,
        "pay_amount": 25900,
        "post_amount": 0,
        "promotion_amount": 0,
        "doudian_open_id": "1@#PreSale==",
        "buyer_words": "",
        "post_receiver": "周敏",
        "post_tel": "13912340002",
        "post_addr": {
            "province": {"name": "江苏省", "id": "32"},
            "city": {"name": "南京市", "id": "3201"},
            "town": {"name": "鼓楼区", "id": "320106"},
            "detail": "中山北路 30 号 1 单元 1101 室",
        },
        "sku_order_list": [
            {
                "order_id": "6921234567890220002",
                "parent_order_id": "6921234567890220001",
                "sku_id": "1700030",
                "out_sku_id": "SERUM-30",
                "product_name": "玻尿酸精华 30ml（预售）",
                "item_num": 1,
                "origin_amount": 25900,
                "pay_amount": 25900,
                "trade_type": 2,
                "given_product_type": "MASTER",
            }
        ],
    }
    if phases:
        order["order_phase_list"] = [
            {
                "phase_order_id": "6921234567890220011",
                "total_phase": 2,
                "current_phase": 1,
                "pay_success": True,
                "sku_order_id": "6921234567890220002",
                "phase_payable_price": 5000,
                "phase_pay_amount": 5000,
                "phase_open_time": 1793534400,
                "phase_pay_time": 1793534430,
                "phase_close_time": 1794326399,
            },
            {
                "phase_order_id": "6921234567890220012",
                "total_phase": 2,
                "current_phase": 2,
                "pay_success": False,
                "sku_order_id": "6921234567890220002",
                "phase_payable_price": 20900,
                "phase_pay_amount": 0,
                "phase_open_time": 1794326400,
                "phase_close_time": 1794585599,  # 2026-11-13 23:59:59 China time
            },
        ]
    return order


def kuaishou_deposit_presale() -> dict[str, Any]:
    """快手 定金预售 (``preSale``): ``orderPaymentStepInfos`` gives the deposit (step 1, paid) and the balance (step 2)
    with ``endPayTime``, its due time; unix milliseconds, desensitised receiver."""
    return {
        "orderBaseInfo": {
            "oid": 2411110012349999,
            "status": 30,
            "createTime": 1793534400000,
            "payTime": 1793534430000,
            "updateTime": 1793534440000,
            "totalFee": 5900,
            "expressFee": 0,
            "discountFee": 0,
            "buyerOpenId": "f18b2c0f",
            "buyerNick": "快手用户9931",
            "remark": "",
            "preSale": 1,
            "orderPaymentStepInfos": [
                {
                    "payStepNo": 1,
                    "payStepType": 1,
                    "payStepName": "定金",
                    "stepTotalPrice": 1000,
                    "paymentFee": 1000,
                    "payTime": 1793534430000,
                    "startPayTime": 1793534400000,
                    "endPayTime": 1794326399000,
                },
                {
                    "payStepNo": 2,
                    "payStepType": 2,
                    "payStepName": "尾款",
                    "stepTotalPrice": 4900,
                    "paymentFee": 0,
                    "payTime": 0,
                    "startPayTime": 1794326400000,
                    "endPayTime": 1794585599000,  # 2026-11-13 23:59:59 China time
                },
            ],
        },
        "orderItemInfo": {
            "orderItemId": 2411110012350000,
            "skuId": 88130,
            "relSkuId": "TEE-BLK-L",
            "itemId": 7730,
            "itemTitle": "纯棉T恤 黑色 L（预售）",
            "num": 1,
            "originalPrice": 5900,
            "price": 5900,
            "discountFee": 0,
        },
        "orderAddress": {
            "desensitiseConsignee": "钱*",
            "desensitiseMobile": "137****8810",
            "encryptedMobile": "##ks-enc-8810##",
            "desensitiseAddress": "湖南省长沙市岳麓区麓山南路***",
            "province": "湖南省",
            "city": "长沙市",
            "district": "岳麓区",
            "town": "",
        },
    }


def community_group_order(order_id: str = "TG-20261111-0001") -> dict[str, Any]:
    """社区团购 in the generic format: bought through the group leader 王姐, picked up at her 自提点, delivered by the
    浦东 3 号线 route."""
    return {
        "order_id": order_id,
        "status": "paid",
        "created_at": "2026-11-11 20:05:00",
        "paid_at": "2026-11-11 20:05:10",
        "buyer": {"id": "tg-member-0451", "nick": "团员小林"},
        "receiver": {
            "name": "林芳",
            "phone": "13600004512",
            "province": "上海",
            "city": "上海市",
            "district": "浦东新区",
            "address": "幸福路 100 弄 12 号 301 室",
        },
        "lines": [
            {"line_id": "1", "sku": "YOGURT-6", "title": "鲜酸奶 6 杯装", "qty": 2, "unit_price_fen": 3990},
            {"line_id": "2", "sku": "DUMPLING-1K", "title": "手工水饺 1kg", "qty": 1, "unit_price_fen": 4590},
        ],
        "community": {
            "leader": {"id": "L-0012", "name": "王姐"},
            "pickup_point": {"id": "PK-031", "name": "幸福里东门自提点", "address": "浦东新区幸福路 100 弄东门"},
            "route": {"code": "R3", "name": "浦东 3 号线"},
        },
    }


# --- receivers the platform protects (CHANNELS.md, "Privacy-protected receivers") --------------------------


def tmall_privacy_oaid() -> dict[str, Any]:
    """Tmall with privacy on: an ``oaid`` (收件人ID) and masked receiver fields, no phone or street in clear."""
    order = taobao_multi_line_with_gift()
    order.update(
        {
            "tid": "3958201746251050001",
            "oaid": "1hPLiaHRmcqk3m4mV3JpNyETNHp8sLxO8xq5Br2bZic3Ua6nTZMbJeeTicgXkRSqnbF9Olp1u",
            "receiver_name": "王**",
            "receiver_mobile": "*******5678",
            "receiver_address": "张江路**号***",
        }
    )
    del order["receiver_zip"]
    return order


def douyin_encrypted() -> dict[str, Any]:
    """抖店 as it sends every order now: the receiver only as ciphertext (``encrypt_*``) and masks, the
    four-level area in clear, and ``open_address_id`` for the address."""
    order = douyin_presale_bundle_gift_refund()
    order.update(
        {
            "order_id": "6921234567890200001",
            "trade_type": 0,
            "encrypt_post_receiver": "##qIOpbLPevlQwA6f+yNJ7HgOqMdCc==*CgYIASAHKAESPgo8AezTm/PH44dQ#1##",
            "encrypt_post_tel": "$$KlqdO3S6/9vQsJesewp8R2oBlX+I2/UA*CgYIASAHKAESPgo85MWGCFPBcT7U$1$$",
            "open_address_id": "#GKTB7s7wOxP/iHoVtQM9LrM0EXj6pJo6xT/cJJ9rjxCl2AYG6dA4c2YIICDozxGcYz9o",
        }
    )
    order["post_addr"] = {
        "province": {"name": "四川省", "id": "51"},
        "city": {"name": "成都市", "id": "5101"},
        "town": {"name": "武侯区", "id": "510107"},
        "street": {"name": "玉林街道", "id": "510107001"},
        "detail": "",
        "encrypt_detail": "##i688Hg7Kf5y7JCzTAYaUWxswmAx8QnTP==*CgYIASAHKAESPgo8VOu2w0Yb#1##",
    }
    for line in order["sku_order_list"]:
        line["trade_type"] = 0
        line.pop("pre_sale_type", None)
        line["after_sale_info"] = {"after_sale_status": 0, "refund_status": 0}
    return order


def douyin_virtual_number() -> dict[str, Any]:
    """抖店 decrypted for shipping (order.batchDecrypt): a protected buyer's phone is a virtual number,
    ``phone_no_a-phone_no_b``; the street comes back in clear, the rest stays as sent."""
    order = douyin_encrypted()
    order["order_id"] = "6921234567890200002"
    order["post_receiver"] = "陈静"
    order["post_tel"] = "18400913965-7576"
    order["post_addr"]["detail"] = "玉林北路 22 号 3 栋 1 单元 502"
    return order


def youzan_encrypted() -> dict[str, Any]:
    """有赞 with the receiver encrypted (``$…$1$``) and masked: the area in clear."""
    order = youzan_presale_with_present()
    info = order["full_order_info"]
    info["order_info"]["tid"] = "E20261111083000077777"
    info["pay_info"].pop("phase_payments")
    info["address_info"] = {
        "receiver_name": "$孙$1$aGVsbG8gd29ybGQ=$1$",
        "receiver_tel": "$135$1$c2VjcmV0LXRlbA==$1$",
        "delivery_province": "江苏省",
        "delivery_city": "南京市",
        "delivery_district": "鼓楼区",
        "delivery_address": "$中山路$1$ZW5jcnlwdGVkLWRldGFpbA==$1$",
    }
    return order


def jd_virtual_number() -> dict[str, Any]:
    """JD with 隐私号: the consignee's mobile is a virtual number with an extension, the name masked, the address
    in clear as JD gives it for shipping."""
    order = jd_order_with_coupon_and_gift()
    order["orderId"] = "285019374699"
    order["consigneeInfo"] = {
        "fullname": "刘*",
        "mobile": "13244445555-3021",
        "telephone": "",
        "province": "北京",
        "city": "北京市",
        "county": "朝阳区",
        "town": "建外街道",
        "fullAddress": "北京朝阳区建外街道建国路 88 号 SOHO 现代城 5 号楼 1203",
    }
    return order


#: The privacy-protected samples by the channel whose shop receives them.
PROTECTED = {
    "tmall": tmall_privacy_oaid,
    "douyin": douyin_encrypted,
    "youzan": youzan_encrypted,
    "jd": jd_virtual_number,
}
