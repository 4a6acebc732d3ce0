"""The demo data set: two flagship firms with hubs and equipment, SMEs, universities and
a login for every role. Idempotent: rows are keyed by slug or e-mail and only written
when they differ from the data below, so a second run changes nothing."""

from __future__ import annotations

import contextlib
import copy
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from billing.models import ServiceRequest
from billing.requests import services as service_requests
from bookings import services as bookings
from bookings.models import Booking, BookingEvent
from core.errors import DomainError
from equipment import services as catalog
from equipment.hours import ALWAYS_OPEN, OFFICE_HOURS
from equipment.models import (
    Capability,
    Category,
    Equipment,
    Hub,
    Metric,
    Qualification,
    SpecLabel,
)
from organizations.models import Membership, Organization, OrganizationAPIKey
from organizations.services import create_api_key
from organizations.validators import uscc_check_character
from pricing import services as pricing
from pricing import setup as money
from pricing.models import Affiliation, RateCard, VoucherGrant, VoucherProgramme
from trials import plant, sharing
from trials import services as trial_services
from trials.models import DatasetRelease, SharingAgreement, Trial
from trials.sharing.delivery import ReleaseDelivery

DEMO_PASSWORD = "testbed-demo"
DEMO_KEY_NAME = "demo"
FLAGSHIP, SME, UNIVERSITY = (Organization.Kind.FLAGSHIP, Organization.Kind.SME,
                             Organization.Kind.UNIVERSITY)

# The catalogue's words in English and Chinese (slug: (English, Chinese)).
CATEGORIES = {
    "cnc-machining": ("CNC machining", "数控加工"),
    "industrial-robotics": ("Industrial robotics", "工业机器人"),
    "vision-inspection": ("Machine-vision inspection", "机器视觉检测"),
    "additive-manufacturing": ("Additive manufacturing", "增材制造"),
    "plc-testing": ("PLC and control testing", "PLC与控制测试"),
    "5g-testing": ("Industrial 5G testing", "工业5G测试"),
    "pilot-lines": ("Pilot lines", "中试线"),
}
CAPABILITIES = {
    "5-axis": ("Five-axis machining", "五轴加工"),
    "high-speed-spindle": ("High-speed spindle", "高速主轴"),
    "mill-turn": ("Mill-turn", "车铣复合"), "welding": ("Welding", "焊接"),
    "pick-and-place": ("Pick and place", "拾取与放置"),
    "collaborative": ("Collaborative robot", "协作机器人"),
    "aoi": ("Automated optical inspection", "自动光学检测"),
    "3d-metrology": ("3D metrology", "三维测量"),
    "metal-3d-printing": ("Metal 3D printing", "金属3D打印"),
    "polymer-3d-printing": ("Polymer 3D printing", "高分子3D打印"),
    "plc-s7": ("Siemens S7 PLC", "西门子S7 PLC"), "plc-codesys": ("CODESYS PLC", "CODESYS PLC"),
    "opc-ua": ("OPC UA", "OPC UA"), "private-5g": ("Private 5G network", "5G专网"),
    "urllc": ("5G URLLC", "5G超可靠低时延通信"), "smt": ("SMT assembly", "SMT贴装"),
}
# Spec keys of the equipment below: key: (English label, Chinese label, unit).
SPEC_LABELS = {
    "axes": ("Axes", "轴数", ""), "travel_mm": ("Travel (X × Y × Z)", "行程（X × Y × Z）", "mm"),
    "spindle_rpm": ("Spindle speed", "主轴转速", "rpm"),
    "controller": ("Controller", "数控系统", ""),
    "max_turning_diameter_mm": ("Max. turning diameter", "最大车削直径", "mm"),
    "arms": ("Arms", "手臂数", ""), "payload_kg": ("Payload", "负载", "kg"),
    "repeatability_mm": ("Repeatability", "重复定位精度", "mm"),
    "reach_mm": ("Reach", "工作半径", "mm"), "cameras": ("Cameras", "相机数", ""),
    "resolution_mp": ("Resolution", "分辨率", "MP"),
    "measuring_range_mm": ("Measuring range (X × Y × Z)", "测量范围（X × Y × Z）", "mm"),
    "mpe_um": ("Max. permissible error", "最大允许误差", "µm"),
    "cpu": ("CPU", "CPU", ""), "io_points": ("I/O points", "I/O点数", ""),
    "build_volume_mm": ("Build volume (X × Y × Z)", "成型尺寸（X × Y × Z）", "mm"),
    "laser_w": ("Laser power", "激光功率", "W"), "materials": ("Materials", "材料", ""),
    "process": ("Process", "工艺", ""), "laser_kw": ("Laser power", "激光功率", "kW"),
    "cph": ("Placement rate", "贴装速度", "CPH"),
    "board_max_mm": ("Max. board size", "最大板尺寸", "mm"),
    "stations": ("Stations", "工位数", ""), "takt_s": ("Takt time", "节拍", "s"),
    "resolution_um": ("Resolution", "分辨率", "µm"), "bands": ("Bands", "频段", ""),
    "latency_ms": ("Latency", "时延", "ms"), "shielded_box": ("Shielded box", "屏蔽箱", ""),
    "runtime": ("Runtime", "运行环境", ""), "layer_um": ("Layer thickness", "层厚", "µm"),
}
# Metrics the demo sources (gateway, plant) report: key: (English, Chinese, unit).
METRICS = {
    "spindle_load": ("Spindle load", "主轴负载", "%"),
    "spindle_speed": ("Spindle speed", "主轴转速", "rpm"),
    "spindle_temperature": ("Spindle temperature", "主轴温度", "°C"),
    "vibration_rms": ("Vibration (RMS)", "振动（有效值）", "mm/s"),
    "surface_roughness_ra": ("Surface roughness Ra", "表面粗糙度Ra", "µm"),
    "cycle_time": ("Cycle time", "节拍时间", "s"),
    "position_error": ("Position error", "位置误差", "mm"),
    "x_position": ("X position", "X轴位置", "mm"),
    "motor_temperature": ("Motor temperature", "电机温度", "°C"),
    "defect_rate": ("Defect rate", "缺陷率", "%"),
    "inspection_time": ("Inspection time", "检测时间", "ms"),
    "false_reject_rate": ("False reject rate", "误判率", "%"),
    "layer_temperature": ("Layer temperature", "层温度", "°C"),
    "oxygen_level": ("Oxygen level", "氧含量", "ppm"),
    "chamber_pressure": ("Chamber pressure", "腔体压力", "mbar"),
    "laser_power": ("Laser power", "激光功率", "W"),
    "porosity": ("Porosity", "孔隙率", "%"),
    "power": ("Power", "功率", "W"),
    "state": ("Running", "运行状态", ""),
    "part_count": ("Part count", "零件计数", ""),
}

# slug: (kind, name, credit code without its check character, verified)
ORGANIZATIONS = {
    "autoworks": (FLAGSHIP, "AutoWorks Smart Factory", "91110302MA01AW7K3", True),
    "phonetech": (FLAGSHIP, "PhoneTech Lights-out Line", "91110114MA02PT8L4", True),
    "precisionparts": (SME, "Precision Parts", "91110105MA03PP1R5", True),
    "greenmotor": (SME, "Green Motor", "91320594MA04GM2T6", True),
    "sensorlab": (SME, "SensorLab", "91440300MA05UL3U7", True),
    "newco": (SME, "NewCo Robotics", "91110108MA06NC4X8", False),
    "tsinghua": (UNIVERSITY, "Tsinghua Manufacturing Lab", "12110108400000TH1", True),
    "beihang": (UNIVERSITY, "Beihang Intelligent Manufacturing", "12110108400000BH2", True),
}

TWO_SHIFTS = {day: [["08:00", "18:00"], ["22:00", "06:00"]]  # night shift ends next morning
              for day in ("mon", "tue", "wed", "thu", "fri")}
HUBS = [
    dict(slug="autoworks-yizhuang", operator="autoworks",
         name_en="AutoWorks Yizhuang Open Innovation Hub",
         name_zh_hans="AutoWorks亦庄开放创新基地", timezone="Asia/Shanghai",
         address_en="8 Kechuang 13th Street, Beijing Economic-Technological Development Area "
                    "(Yizhuang), Beijing",
         address_zh_hans="北京市北京经济技术开发区（亦庄）科创十三街8号",
         opening_hours=OFFICE_HOURS,
         description_en="Machining, robotics and inspection cells next to the body shop.",
         description_zh_hans="紧邻车身车间的加工、机器人与检测单元。"),
    dict(slug="autoworks-shunyi", operator="autoworks",
         name_en="AutoWorks Shunyi Pilot Plant", name_zh_hans="AutoWorks顺义中试工厂",
         timezone="Asia/Shanghai", address_en="18 Linhe Avenue, Shunyi District, Beijing",
         address_zh_hans="北京市顺义区林河大街18号", opening_hours=TWO_SHIFTS,
         description_en="Additive manufacturing and welding; a day shift and a night shift.",
         description_zh_hans="增材制造与焊接；白班和夜班两班运行。"),
    dict(slug="phonetech-changping", operator="phonetech",
         name_en="PhoneTech Changping Lights-out Line", name_zh_hans="PhoneTech昌平黑灯产线",
         timezone="Asia/Shanghai",
         address_en="66 Life Science Park Road, Changping District, Beijing",
         address_zh_hans="北京市昌平区生命科学园路66号", opening_hours=ALWAYS_OPEN,
         description_en="A fully automated handset line, open around the clock.",
         description_zh_hans="全自动手机产线，全天候开放。"),
]

# Booking policy in minutes (booking_horizon in days); each item may override any field.
POLICY = dict(slot_granularity=30, min_duration=60, max_duration=480, lead_time=60,
              booking_horizon=90, changeover_buffer=0, approval_required=False,
              qualification_required=False)
EQUIPMENT = [
    # hub, slug, name, category, capabilities, CNY/h, specs, overrides
    ("autoworks-yizhuang", "dmg-dmu-50", "DMG MORI DMU 50 5-axis machining centre",
     "cnc-machining", ["5-axis", "high-speed-spindle"], 680,
     {"axes": 5, "travel_mm": [650, 520, 475], "spindle_rpm": 20000,
      "controller": "Siemens SINUMERIK ONE"}, dict(qualification_required=True,
                                                  changeover_buffer=30)),
    ("autoworks-yizhuang", "mazak-integrex-i200s", "Mazak INTEGREX i-200S mill-turn centre",
     "cnc-machining", ["5-axis", "mill-turn"], 620,
     {"axes": 5, "max_turning_diameter_mm": 658, "spindle_rpm": 5000},
     dict(approval_required=True, changeover_buffer=60)),
    ("autoworks-yizhuang", "haas-vf2", "Haas VF-2 vertical machining centre", "cnc-machining",
     ["high-speed-spindle"], 280, {"axes": 3, "travel_mm": [762, 406, 508],
                                    "spindle_rpm": 12000}, {}),
    ("autoworks-yizhuang", "abb-yumi", "ABB YuMi dual-arm collaborative robot",
     "industrial-robotics", ["collaborative", "pick-and-place"], 220,
     {"arms": 2, "payload_kg": 0.5, "repeatability_mm": 0.02}, {}),
    ("autoworks-yizhuang", "fanuc-m20id", "FANUC M-20iD/25 pick-and-place cell",
     "industrial-robotics", ["pick-and-place"], 300,
     {"payload_kg": 25, "reach_mm": 1831}, dict(status=Equipment.Status.DOWN)),
    ("autoworks-yizhuang", "keyence-cv-x", "Keyence CV-X480 vision inspection station",
     "vision-inspection", ["aoi"], 180, {"cameras": 4, "resolution_mp": 21}, {}),
    ("autoworks-yizhuang", "zeiss-contura", "ZEISS CONTURA coordinate measuring machine",
     "vision-inspection", ["3d-metrology"], 350,
     {"measuring_range_mm": [700, 1000, 600], "mpe_um": 1.8}, dict(changeover_buffer=30)),
    ("autoworks-yizhuang", "siemens-s7-1500-bench", "Siemens S7-1500 PLC test bench",
     "plc-testing", ["plc-s7", "opc-ua"], 120, {"cpu": "CPU 1516-3 PN/DP", "io_points": 256},
     dict(slot_granularity=60, lead_time=0)),
    ("autoworks-shunyi", "eos-m290", "EOS M 290 metal printer (DMLS)", "additive-manufacturing",
     ["metal-3d-printing"], 900, {"build_volume_mm": [250, 250, 325], "laser_w": 400,
                                   "materials": ["Ti64", "AlSi10Mg", "316L"]},
     dict(slot_granularity=60, min_duration=240, max_duration=600, approval_required=True,
          qualification_required=True, changeover_buffer=120, lead_time=1440)),
    ("autoworks-shunyi", "stratasys-f370", "Stratasys F370 FDM printer", "additive-manufacturing",
     ["polymer-3d-printing"], 150, {"build_volume_mm": [355, 254, 355],
                                     "materials": ["ABS", "PLA", "TPU"]}, {}),
    ("autoworks-shunyi", "kuka-kr210-weld", "KUKA KR 210 robotic welding cell",
     "industrial-robotics", ["welding"], 450, {"payload_kg": 210, "process": "MIG/MAG"},
     dict(approval_required=True, qualification_required=True)),
    ("autoworks-shunyi", "trumpf-trulaser-3000", "TRUMPF TruLaser Cell 3000 laser welding",
     "industrial-robotics", ["welding", "5-axis"], 520, {"laser_kw": 4, "axes": 5},
     dict(changeover_buffer=30)),
    ("phonetech-changping", "yamaha-ysm20r", "Yamaha YSM20R SMT placement line", "pilot-lines",
     ["smt", "pick-and-place"], 800, {"cph": 95000, "board_max_mm": [810, 490]},
     dict(slot_granularity=60, min_duration=120, max_duration=1440, changeover_buffer=60)),
    ("phonetech-changping", "final-assembly-line", "Handset final-assembly test line",
     "pilot-lines", ["smt", "aoi"], 1500, {"stations": 14, "takt_s": 28},
     dict(slot_granularity=60, min_duration=240, max_duration=1440, lead_time=2880,
          approval_required=True, qualification_required=True, changeover_buffer=120)),
    ("phonetech-changping", "kohyoung-zenith", "Koh Young Zenith 3D AOI", "vision-inspection",
     ["aoi", "3d-metrology"], 260, {"resolution_um": 10, "board_max_mm": [510, 510]}, {}),
    ("phonetech-changping", "private-5g-cell", "Private 5G SA cell (n78/n79)", "5g-testing",
     ["private-5g", "urllc"], 400, {"bands": ["n78", "n79"], "latency_ms": 4},
     dict(slot_granularity=60, approval_required=True)),
    ("phonetech-changping", "5g-rf-bench", "5G device RF conformance bench", "5g-testing",
     ["private-5g"], 350, {"bands": ["n1", "n41", "n78"], "shielded_box": True}, {}),
    ("phonetech-changping", "codesys-bench", "CODESYS / OPC UA PLC bench", "plc-testing",
     ["plc-codesys", "opc-ua"], 100, {"runtime": "CODESYS Control Win V3", "io_points": 128},
     dict(slot_granularity=15, min_duration=30, max_duration=240, lead_time=0)),
    ("phonetech-changping", "formlabs-form4", "Formlabs Form 4 resin printer",
     "additive-manufacturing", ["polymer-3d-printing"], 90,
     {"build_volume_mm": [200, 125, 210], "layer_um": 25}, {}),
    ("phonetech-changping", "ur10e-screwdriving", "Universal Robots UR10e screw-driving cell",
     "industrial-robotics", ["collaborative"], 160, {"payload_kg": 12.5, "reach_mm": 1300}, {}),
]
# The equipment's Chinese names (slug: name).
EQUIPMENT_ZH = {
    "dmg-dmu-50": "德马吉森精机DMU 50五轴加工中心",
    "mazak-integrex-i200s": "马扎克INTEGREX i-200S车铣复合中心",
    "haas-vf2": "哈斯VF-2立式加工中心",
    "abb-yumi": "ABB YuMi双臂协作机器人",
    "fanuc-m20id": "发那科M-20iD/25拾取放置单元",
    "keyence-cv-x": "基恩士CV-X480视觉检测工位",
    "zeiss-contura": "蔡司CONTURA三坐标测量机",
    "siemens-s7-1500-bench": "西门子S7-1500 PLC测试台",
    "eos-m290": "EOS M 290金属打印机（DMLS）",
    "stratasys-f370": "Stratasys F370 FDM打印机",
    "kuka-kr210-weld": "库卡KR 210机器人焊接单元",
    "trumpf-trulaser-3000": "通快TruLaser Cell 3000激光焊接单元",
    "yamaha-ysm20r": "雅马哈YSM20R SMT贴片线",
    "final-assembly-line": "手机总装测试线",
    "kohyoung-zenith": "高永Zenith 3D AOI",
    "private-5g-cell": "5G SA专网小区（n78/n79）",
    "5g-rf-bench": "5G终端射频一致性测试台",
    "codesys-bench": "CODESYS / OPC UA PLC测试台",
    "formlabs-form4": "Formlabs Form 4光固化打印机",
    "ur10e-screwdriving": "优傲UR10e拧紧协作单元",
}
# Equipment whose results the operator uploads by hand; three read the demo plant
# (`make demo-plant`: MTConnect, OPC UA, MQTT); the rest use the demo gateway.
MANUAL_RESULTS = {"fanuc-m20id", "final-assembly-line"}
PLANT_SOURCES = plant.demo_sources()
# A trial checked in now on each of them, so the live view has something to show.
PLANT_TRIAL_HOURS = 8

# e-mail: (organisation slug, role) — the table in README.md.
USERS = {
    "admin@autoworks.example": ("autoworks", Membership.Role.ADMIN),
    "ops@autoworks.example": ("autoworks", Membership.Role.OPERATOR),
    "ops@phonetech.example": ("phonetech", Membership.Role.OPERATOR),
    "lead@precisionparts.example": ("precisionparts", Membership.Role.ADMIN),
    "engineer@precisionparts.example": ("precisionparts", Membership.Role.MEMBER),
    "lead@greenmotor.example": ("greenmotor", Membership.Role.ADMIN),
    "lead@sensorlab.example": ("sensorlab", Membership.Role.ADMIN),
    "lead@newco.example": ("newco", Membership.Role.ADMIN),
    "data@tsinghua.example": ("tsinghua", Membership.Role.ADMIN),
    "data@beihang.example": ("beihang", Membership.Role.ADMIN),
}
STAFF_EMAIL = "staff@testbed.local"
# (user, equipment slug, granted by)
QUALIFICATIONS = [("engineer@precisionparts.example", "dmg-dmu-50", "ops@autoworks.example")]


def seed_catalog_terms() -> None:
    for model, terms in ((Category, CATEGORIES), (Capability, CAPABILITIES)):
        for slug, (en, zh) in terms.items():
            model.objects.update_or_create(slug=slug,
                                           defaults={"name_en": en, "name_zh_hans": zh})
    for model, terms in ((SpecLabel, SPEC_LABELS), (Metric, METRICS)):
        for key, (en, zh, unit) in terms.items():
            model.objects.update_or_create(
                key=key, defaults={"label_en": en, "label_zh_hans": zh, "unit": unit})


def seed_organizations() -> dict[str, Organization]:
    orgs = {}
    for slug, (kind, name, code17, verified) in ORGANIZATIONS.items():
        orgs[slug], _ = Organization.objects.update_or_create(slug=slug, defaults=dict(
            kind=kind, name=name, credit_code=code17 + uscc_check_character(code17),
            verified=verified))
    return orgs


def _changes(instance, data: dict) -> dict:
    return {k: v for k, v in data.items() if getattr(instance, k) != v}


def seed_hubs(orgs: dict[str, Organization]) -> dict[str, Hub]:
    hubs = {}
    for item in HUBS:
        data = copy.deepcopy(item)
        slug, operator = data.pop("slug"), orgs[data.pop("operator")]
        hub = Hub.objects.filter(slug=slug).first()
        if hub is None:
            hub = catalog.create_hub(operator=operator, data={"slug": slug, **data})
        elif changes := _changes(hub, {"operator": operator, **data}):
            hub = catalog.update_hub(hub=hub, by=operator, data=changes)
        hubs[slug] = hub
    return hubs


def seed_equipment(hubs: dict[str, Hub]) -> dict[str, Equipment]:
    categories = {c.slug: c for c in Category.objects.all()}
    capabilities = {c.slug: c for c in Capability.objects.all()}
    out = {}
    for hub_slug, slug, name, category, caps, rate, specs, overrides in EQUIPMENT:
        hub = hubs[hub_slug]
        kind = (Equipment.ResultSourceKind.NONE if slug in MANUAL_RESULTS
                else Equipment.ResultSourceKind.DEMO)
        data = {**POLICY, "name_en": name, "name_zh_hans": EQUIPMENT_ZH.get(slug),
                "category": categories[category], "specs": specs,
                "hourly_rate": Decimal(rate), "status": Equipment.Status.AVAILABLE,
                "result_source_kind": kind, **overrides, **PLANT_SOURCES.get(slug, {})}
        wanted = [capabilities[c] for c in caps]
        equipment = Equipment.objects.filter(hub=hub, slug=slug).first()
        if equipment is None:
            equipment = catalog.create_equipment(hub=hub, by=hub.operator,
                                                 data={"slug": slug, **data},
                                                 capabilities=wanted)
        else:
            changes = _changes(equipment, data)
            same_caps = set(equipment.capabilities.all()) == set(wanted)
            if changes or not same_caps:
                equipment = catalog.update_equipment(
                    equipment=equipment, by=hub.operator, data=changes,
                    capabilities=None if same_caps else wanted)
        out[slug] = equipment
    return out


# Pictures and documents of a few machines, drawn here (no binary files in the repository):
# slug: the colour of its picture. The DMU 50 also gets a datasheet and safety rules (PDF).
DEMO_PHOTOS = {"dmg-dmu-50": (11, 61, 145), "abb-yumi": (196, 90, 20),
               "eos-m290": (90, 90, 100), "keyence-cv-x": (20, 130, 90),
               "yamaha-ysm20r": (120, 40, 140)}
DEMO_DOCUMENTS = {"dmg-dmu-50": [
    ("datasheet", "DMU 50 datasheet", "DMU 50技术参数表", "dmu-50-datasheet.pdf",
     ["DMG MORI DMU 50 - 5-axis machining centre", "Travel X/Y/Z: 650 / 520 / 475 mm",
      "Spindle: 20,000 rpm", "Controller: Siemens SINUMERIK ONE"]),
    ("safety", "Safety rules of the machining cell", "加工单元安全规程", "dmu-50-safety.pdf",
     ["Safety rules - machining cell", "1. Safety glasses and shoes at all times.",
      "2. Doors closed while the spindle turns.", "3. Report every incident to the operator."]),
]}


def _demo_picture(colour: tuple[int, int, int], label: str, size=(960, 640)) -> bytes:
    from io import BytesIO

    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, (236, 240, 245))
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.rectangle([w * 0.18, h * 0.28, w * 0.82, h * 0.82], fill=colour)  # the machine
    draw.rectangle([w * 0.28, h * 0.38, w * 0.58, h * 0.68], fill=(210, 225, 240))  # window
    draw.rectangle([w * 0.64, h * 0.38, w * 0.76, h * 0.52], fill=(40, 40, 40))  # control
    draw.rectangle([0, h * 0.82, w, h], fill=(150, 155, 160))  # floor
    draw.text((w * 0.05, h * 0.1), label, fill=(30, 30, 30), font_size=34)
    out = BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def _demo_pdf(lines: list[str]) -> bytes:
    from io import BytesIO

    from PIL import Image, ImageDraw

    page = Image.new("RGB", (1240, 1754), "white")  # A4 at 150 dpi
    draw = ImageDraw.Draw(page)
    for i, text in enumerate(lines):
        draw.text((120, 140 + i * 70), text, fill="black", font_size=40 if i else 54)
    out = BytesIO()
    page.save(out, "PDF", resolution=150)
    return out.getvalue()


def seed_catalogue_media(equipment: dict[str, Equipment]) -> None:
    """Photos and documents of a few demo machines, through the catalogue services; only
    where a machine has none (a second run adds nothing)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    for slug, colour in DEMO_PHOTOS.items():
        machine = equipment[slug]
        if not machine.photos.exists():
            picture = _demo_picture(colour, machine.name_en)
            catalog.add_equipment_photo(
                equipment=machine, by=machine.hub.operator,
                upload=SimpleUploadedFile(f"{slug}.jpg", picture, "image/jpeg"))
    for slug, documents in DEMO_DOCUMENTS.items():
        machine = equipment[slug]
        if machine.documents.exists():
            continue
        for kind, title_en, title_zh, filename, lines in documents:
            catalog.add_equipment_document(
                equipment=machine, by=machine.hub.operator, kind=kind, title_en=title_en,
                title_zh_hans=title_zh,
                upload=SimpleUploadedFile(filename, _demo_pdf(lines), "application/pdf"))


def _user(email: str, **flags):
    user, created = get_user_model().objects.get_or_create(
        username=email, defaults={"email": email, **flags})
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    EmailAddress.objects.get_or_create(user=user, email=email,
                                       defaults={"verified": True, "primary": True})
    return user


def seed_users(orgs: dict[str, Organization]) -> dict:
    users = {STAFF_EMAIL: _user(STAFF_EMAIL, is_staff=True, is_superuser=True)}
    for email, (org_slug, role) in USERS.items():
        users[email] = _user(email)
        Membership.objects.update_or_create(user=users[email], organization=orgs[org_slug],
                                            defaults={"role": role})
    return users


def seed_qualifications(users: dict, equipment: dict[str, Equipment]) -> None:
    for email, equipment_slug, granted_by in QUALIFICATIONS:
        Qualification.objects.get_or_create(user=users[email], equipment=equipment[equipment_slug],
                                            defaults={"granted_by": users[granted_by]})


# Money: each hub's rate card from the start of 2026: its name (English, Chinese); per
# equipment its hourly rate, staff-assisted surcharge and set-up fee (slug: (rate,
# surcharge, set-up); equipment not listed keeps its own hourly rate); its consumables and
# materials (code, English, Chinese, kind, unit, price).
RATES_FROM = date(2026, 1, 1)
RATE_CARDS = {
    "autoworks-yizhuang": (("Yizhuang prices 2026", "亦庄基地2026年价目"), {
        "dmg-dmu-50": (680, 200, 300), "mazak-integrex-i200s": (620, 200, 300),
        "haas-vf2": (280, 120, 150), "abb-yumi": (220, 100, 0), "keyence-cv-x": (180, 80, 100),
        "zeiss-contura": (350, 150, 200), "siemens-s7-1500-bench": (120, 60, 0)}, [
        ("al6061-block", "6061 aluminium block 100×100×50 mm", "6061铝块100×100×50毫米",
         "material", "piece", "85.00"),
        ("carbide-endmill-10", "Carbide end mill Ø10 mm", "硬质合金立铣刀Ø10毫米",
         "consumable", "piece", "160.00"),
        ("coolant", "Water-soluble coolant", "水溶性切削液", "consumable", "l", "28.00")]),
    "autoworks-shunyi": (("Shunyi prices 2026", "顺义基地2026年价目"), {
        "eos-m290": (900, 300, 800), "stratasys-f370": (150, 60, 50),
        "kuka-kr210-weld": (450, 180, 300), "trumpf-trulaser-3000": (520, 200, 300)}, [
        ("ti64-powder", "Ti-6Al-4V powder", "钛合金粉末Ti-6Al-4V", "material", "kg", "1200.00"),
        ("pla-filament", "PLA filament", "PLA线材", "material", "kg", "180.00"),
        ("argon-cylinder", "Argon shielding gas, 40 l cylinder", "氩气保护气（40升钢瓶）",
         "consumable", "piece", "260.00")]),
    "phonetech-changping": (("Changping prices 2026", "昌平基地2026年价目"), {
        "yamaha-ysm20r": (800, 250, 600), "final-assembly-line": (1500, 400, 1000),
        "kohyoung-zenith": (260, 100, 100), "private-5g-cell": (400, 150, 200),
        "5g-rf-bench": (350, 120, 100), "codesys-bench": (100, 50, 0),
        "formlabs-form4": (90, 40, 30), "ur10e-screwdriving": (160, 60, 50)}, [
        ("solder-paste", "SAC305 solder paste", "SAC305无铅锡膏", "consumable", "g", "1.20"),
        ("test-pcb", "Test PCB panel", "测试PCB拼板", "material", "piece", "45.00"),
        ("resin", "Standard resin", "标准树脂", "material", "l", "950.00")]),
}
# A Beijing innovation-voucher programme accrediting the demo hubs; grants to two SMEs;
# Green Motor is controlled by PhoneTech (its voucher works at AutoWorks, not at PhoneTech).
PROGRAMME = dict(
    reference="JING-KJCXQ-2026", name_en="Beijing Capital Science and Technology "
    "Innovation Voucher", name_zh_hans="北京市首都科技创新券",
    issuer_en="Beijing Municipal Science and Technology Commission",
    issuer_zh_hans="北京市科学技术委员会", subsidy_share=Decimal("0.5000"),
    cap_per_sme_year=Decimal("500000.00"), cap_per_use=None, valid_from=date(2026, 1, 1),
    valid_until=date(2027, 12, 31), claimant=VoucherProgramme.Claimant.PROVIDER)
GRANTS = [  # (SME, reference number, amount)
    ("precisionparts", "JING-KJCXQ-2026-00117", Decimal("200000.00")),
    ("greenmotor", "JING-KJCXQ-2026-00342", Decimal("100000.00")),
]
AFFILIATION = ("greenmotor", "phonetech", Affiliation.Kind.CONTROL,
               "PhoneTech holds 60 % of Green Motor's shares.")


def seed_money(orgs: dict[str, Organization], hubs: dict[str, Hub],
               equipment: dict[str, Equipment], staff) -> int:
    """Rate cards, the voucher programme, its grants and the declared affiliation, through
    the set-up services; each only when missing (a second run writes nothing)."""
    made = 0
    for hub_slug, ((name_en, name_zh), rates, items) in RATE_CARDS.items():
        hub = hubs[hub_slug]
        card = RateCard.objects.filter(hub=hub, valid_from=RATES_FROM).first()
        if card is not None and (card.name_en, card.name_zh_hans) == (name_en, name_zh):
            continue
        # A card seeded before its name had a Chinese one is saved again with both.
        money.save_rate_card(
            hub=hub, operator=hub.operator, by_user=None, name=name_en, name_zh_hans=name_zh,
            valid_from=RATES_FROM, card=card,
            valid_until=card.valid_until if card is not None else None,
            rates=[{"equipment": equipment[slug], "hourly_rate": Decimal(rate),
                    "assisted_hourly_surcharge": Decimal(surcharge),
                    "setup_fee": Decimal(setup_fee)}
                   for slug, (rate, surcharge, setup_fee) in rates.items()],
            items=[{"code": code, "name_en": en, "name_zh_hans": zh, "kind": kind,
                    "unit": unit, "unit_price": Decimal(price)}
                   for code, en, zh, kind, unit, price in items])
        made += 1
    programme = VoucherProgramme.objects.filter(reference=PROGRAMME["reference"]).first()
    if programme is None:
        programme = money.save_programme(data=PROGRAMME, providers=list(hubs.values()),
                                         categories=[], by_user=staff)
        made += 1
    for sme, reference, amount in GRANTS:
        if not VoucherGrant.objects.filter(programme=programme,
                                           reference_number=reference).exists():
            money.grant_voucher(programme_id=programme.pk, organization=orgs[sme],
                                amount=amount, valid_from=programme.valid_from,
                                valid_until=programme.valid_until, reference_number=reference,
                                by_user=staff)
            made += 1
    sme, flagship, kind, note = AFFILIATION
    if not Affiliation.objects.filter(organization=orgs[sme], affiliate=orgs[flagship],
                                      ended_at__isnull=True).exists():
        money.declare_affiliation(organization=orgs[sme], affiliate=orgs[flagship], kind=kind,
                                  note=note, by_user=staff)
        made += 1
    return made


# title: (operator, hub, university, categories, terms)
AGREEMENTS = {
    "AutoWorks × Tsinghua: machining and additive trials": (
        "autoworks", "autoworks-yizhuang", "tsinghua",
        ["cnc-machining", "additive-manufacturing"],
        {"anonymize": True, "shift_timestamps": False, "embargo_days": 0,
         "license": "CC-BY-4.0"}),
    "PhoneTech × Beihang: inspection research": (
        "phonetech", "phonetech-changping", "beihang",
        ["vision-inspection", "industrial-robotics"],
        {"anonymize": True, "shift_timestamps": True, "embargo_days": 30,
         "license": "CC-BY-NC-4.0"}),
}
AGREEMENTS_FROM = datetime(2026, 1, 1, tzinfo=UTC)


def seed_agreements(orgs: dict[str, Organization], hubs: dict[str, Hub]) -> int:
    """Sharing agreements whose endpoints are the demo university receiver of this very
    service, so a consented release is delivered and receipted in the demo. The endpoint
    follows DEMO_BASE_URL (the address the demo is served on: ``make run PORT=8100``)."""
    for title, (operator, hub, university, categories, terms) in AGREEMENTS.items():
        endpoint_url = f"{settings.DEMO_BASE_URL}/demo-university/{university}/webhook/"
        agreement = SharingAgreement.objects.filter(title=title).first()
        if agreement is None:
            sharing.create_agreement(
                operator=orgs[operator], university=university, hub=hub,
                categories=categories, title=title, valid_from=AGREEMENTS_FROM,
                endpoint_url=endpoint_url, **terms)
        elif agreement.endpoint_url != endpoint_url and agreement.revoked_at is None:
            sharing.update_agreement(agreement=agreement, by=orgs[operator],
                                     data={"endpoint_url": endpoint_url})
    return len(AGREEMENTS)


SHANGHAI = ZoneInfo("Asia/Shanghai")
# Trials already run, so results, sharing, statements and a voucher claim can be shown at
# once: (SME, equipment, local start, hours, trial lead, staff-assisted, voucher grant's
# reference number or None, purpose). Both SMEs' grants pay half at AutoWorks' hubs.
HISTORY = [
    ("precisionparts", "haas-vf2", datetime(2026, 11, 18, 9, 0), 3,
     "engineer@precisionparts.example", False, "JING-KJCXQ-2026-00117",
     "Roughing and finishing trial for a 6061 aluminium gearbox housing; compare two "
     "toolpath strategies for cycle time and surface roughness."),
    ("precisionparts", "keyence-cv-x", datetime(2026, 11, 19, 14, 0), 2,
     "lead@precisionparts.example", True, "JING-KJCXQ-2026-00117",
     "Inspection recipe trial for stamped brackets: defect rate at line speed."),
    ("greenmotor", "dmg-dmu-50", datetime(2026, 11, 20, 10, 0), 4, "lead@greenmotor.example",
     False, "JING-KJCXQ-2026-00342", "5-axis machining of a motor end shield in cast iron."),
]


def price_demo_booking(*, equipment: Equipment, organization: Organization, start: datetime,
                       end: datetime, by_user, now: datetime, assisted: bool = False,
                       grant_reference: str | None = None):
    """The booking quote of a demo booking, priced as every booking is
    (``pricing.services.price_booking``: the hub's rate card, the voucher split within the
    caps, the share reserved on the grant), under the equipment's row lock. Raises the
    refusal: demo data that the pricing refuses is a bug of the demo."""
    locked = catalog.lock_equipment(equipment.pk)
    grant_id = None
    if grant_reference:
        grant_id = (VoucherGrant.objects.filter(reference_number=grant_reference,
                                                organization=organization)
                    .values_list("pk", flat=True).get())
    quote = pricing.price_booking(equipment=locked, organization=organization, start=start,
                                  end=end, grant_id=grant_id, assisted=assisted,
                                  by_user=by_user, now=now)
    if isinstance(quote, Exception):
        raise quote
    return quote


def _price_unpriced(booking: Booking, *, now: datetime, assisted: bool = False,
                    grant_reference: str | None = None) -> int:
    """A demo booking seeded before bookings were priced gets its quote (1), once."""
    if booking.quote_id is not None:
        return 0
    quote = price_demo_booking(equipment=booking.equipment, organization=booking.organization,
                               start=booking.start, end=booking.end,
                               by_user=booking.requested_by, now=now, assisted=assisted,
                               grant_reference=grant_reference)
    Booking.objects.filter(pk=booking.pk, quote__isnull=True).update(quote=quote,
                                                                     price=quote.total)
    return 1


def seed_history(orgs: dict[str, Organization], equipment: dict[str, Equipment],
                 users: dict) -> int:
    """Past bookings, completed, priced (with the SME's voucher), with their results
    collected from the demo gateway. Written directly (the booking services refuse times
    in the past, rightly): a record of history, not a new booking; their quotes are the
    pricing service's own."""
    made = 0
    for sme, slug, local_start, hours, lead, assisted, grant, purpose in HISTORY:
        eq = equipment[slug]
        start = local_start.replace(tzinfo=SHANGHAI)
        end = start + timedelta(hours=hours)
        booked_at = start - timedelta(days=3)
        existing = Booking.objects.filter(equipment=eq, start=start).first()
        if existing is not None:
            made += _price_unpriced(existing, now=booked_at, assisted=assisted,
                                    grant_reference=grant)
            continue
        quote = price_demo_booking(equipment=eq, organization=orgs[sme], start=start, end=end,
                                   by_user=users[lead], now=booked_at, assisted=assisted,
                                   grant_reference=grant)
        booking = Booking.objects.create(
            equipment=eq, organization=orgs[sme], operator_id=eq.hub.operator_id,
            requested_by=users[lead],
            trial_lead=users[lead], start=start, end=end,
            blocked_until=end + timedelta(minutes=eq.changeover_buffer),
            status=Booking.Status.COMPLETED, purpose=purpose, price=quote.total, quote=quote,
            checked_in_at=start, completed_at=end)
        for at, before, after in ((booked_at, "", "confirmed"),
                                  (start, "confirmed", "checked_in"),
                                  (end, "checked_in", "completed")):
            BookingEvent.objects.create(booking=booking, organization=booking.organization,
                                        operator_id=booking.operator_id,
                                        code=f"booking.{after}",
                                        from_status=before, to_status=after, at=at,
                                        notified_at=at)
        trial_services.open_trial(booking=booking)
        trial_services.collect_trial_results(trial_id=booking.pk)
        made += 1
    return made


PLANT_PURPOSE = "Live demo: trial on the demo plant"


def seed_plant_trials(orgs: dict[str, Organization], equipment: dict[str, Equipment],
                      users: dict) -> int:
    """A booking checked in now (from the start of this hour, for PLANT_TRIAL_HOURS) on each
    demo-plant machine, unless one is already running or the slot is taken; priced by the
    pricing service (the SME pays it all). Written directly, as the history is: its start
    has passed."""
    made = 0
    now = timezone.now()
    start = now.replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=PLANT_TRIAL_HOURS)
    lead = users["engineer@precisionparts.example"]
    for slug in PLANT_SOURCES:
        eq = equipment[slug]
        running = Booking.objects.filter(equipment=eq, start__lt=end, blocked_until__gt=start,
                                         status__in=Booking.ACTIVE)
        if running.exists():
            for booking in running.filter(purpose=PLANT_PURPOSE, quote__isnull=True):
                made += _price_unpriced(booking, now=booking.start)
            continue
        quote = price_demo_booking(equipment=eq, organization=orgs["precisionparts"],
                                   start=start, end=end, by_user=lead, now=start)
        booking = Booking.objects.create(
            equipment=eq, organization=orgs["precisionparts"],
            operator_id=eq.hub.operator_id, requested_by=lead,
            trial_lead=lead, start=start, end=end,
            blocked_until=end + timedelta(minutes=eq.changeover_buffer),
            status=Booking.Status.CHECKED_IN, purpose=PLANT_PURPOSE, price=quote.total,
            quote=quote, checked_in_at=start)
        for at, before, after in ((start, "", "confirmed"), (start, "confirmed", "checked_in")):
            BookingEvent.objects.create(booking=booking, organization=booking.organization,
                                        operator_id=booking.operator_id,
                                        code=f"booking.{after}",
                                        from_status=before, to_status=after, at=at,
                                        notified_at=at)
        trial_services.open_trial(booking=booking)
        made += 1
    return made


# A request waiting for AutoWorks' decision, so the operator's request queue is not empty:
# (SME, equipment needing approval, requested by, days ahead, local start hour, hours, purpose)
PENDING_REQUEST = (
    "greenmotor", "mazak-integrex-i200s", "lead@greenmotor.example", 7, 10, 3,
    "Mill-turn trial of a stator housing: one clamping for turning and milling.")


def seed_pending_request(orgs: dict[str, Organization], equipment: dict[str, Equipment],
                         users: dict) -> int:
    """A future booking request through the booking service (the equipment needs the
    operator's approval), unless the SME already has one waiting on it. The first free
    weekday from a week ahead, at the hour above (local time of the hub)."""
    sme, slug, email, days, hour, hours, purpose = PENDING_REQUEST
    eq, organization = equipment[slug], orgs[sme]
    now = timezone.now()
    if Booking.objects.filter(equipment=eq, organization=organization, start__gt=now,
                              status=Booking.Status.REQUESTED).exists():
        return 0
    tz = ZoneInfo(eq.hub.timezone)
    day = now.astimezone(tz).date() + timedelta(days=days)
    for _ in range(14):
        if day.weekday() < 5:  # the hub is open on weekdays
            start = datetime(day.year, day.month, day.day, hour, tzinfo=tz)
            # A refusal (the slot is taken, or closed) tries the next day; the savepoint
            # leaves the seed usable.
            with contextlib.suppress(DomainError), transaction.atomic():
                bookings.create_booking(equipment_id=eq.pk, organization=organization,
                                        start=start, end=start + timedelta(hours=hours),
                                        purpose=purpose, by_user=users[email], now=now)
                return 1
        day += timedelta(days=1)
    return 0


# Service requests at AutoWorks Yizhuang, so the operator's queue and the SME's accept flow
# can be tried: (SME, requested by, title, plan, equipment used together, days ahead of the
# preferred start, offer: None (waiting for the operator) or (items: (code, quantity), note)).
SERVICE_REQUESTS = [
    ("precisionparts", "lead@precisionparts.example",
     "Machining and measuring a pump housing prototype",
     "Machine three 6061 pump housings on the vertical machining centre, then measure the "
     "bore positions and flatness on the CMM; your staff to set up the fixtures and the "
     "measuring program.", ["haas-vf2", "zeiss-contura"], 14, None),
    ("greenmotor", "lead@greenmotor.example",
     "First-article inspection of a motor bracket",
     "Mill two brackets and check them on the vision station: defect rate and cycle time "
     "with your staff operating both.", ["haas-vf2", "keyence-cv-x"], 21,
     ([("al6061-block", 2), ("carbide-endmill-10", 1)],
      "Staff-assisted: machining in the morning, inspection in the afternoon.")),
]
REQUEST_HUB = "autoworks-yizhuang"
REQUEST_OPERATOR = "ops@autoworks.example"


def _weekday_ahead(today: date, days: int) -> date:
    day = today + timedelta(days=days)
    while day.weekday() >= 5:  # the hub is open on weekdays
        day += timedelta(days=1)
    return day


def seed_service_requests(orgs: dict[str, Organization], hubs: dict[str, Hub],
                          equipment: dict[str, Equipment], users: dict) -> int:
    """Each request above through the service-request services, unless the SME already has
    an open one of that title (a second run writes nothing): submitted for a weekday some
    weeks ahead (09:00 to 17:00, hub time); with an offer, answered by the operator
    (``send_offer``: staff-assisted, the rate card's prices) with one period per machine
    that day, valid a week."""
    hub = hubs[REQUEST_HUB]
    tz = ZoneInfo(hub.timezone)
    now = timezone.now()
    made = 0
    for sme, email, title, plan, slugs, days, offer in SERVICE_REQUESTS:
        organization = orgs[sme]
        if ServiceRequest.objects.filter(organization=organization, title=title,
                                         status__in=ServiceRequest.OPEN).exists():
            continue
        day = _weekday_ahead(now.astimezone(tz).date(), days)
        opening = datetime(day.year, day.month, day.day, 9, tzinfo=tz)
        closing = datetime(day.year, day.month, day.day, 17, tzinfo=tz)
        service_request = service_requests.submit_request(
            organization=organization, title=title, plan=plan, hub_id=hub.pk,
            equipment_ids=[equipment[slug].pk for slug in slugs], preferred_start=opening,
            preferred_end=closing, by_user=users[email], now=now)
        made += 1
        if offer is None:
            continue
        items, note = offer
        hours = (closing - opening) / len(slugs)  # the machines one after another
        service_requests.send_offer(
            request_id=service_request.pk, operator=hub.operator,
            periods=[(equipment[slug].pk, opening + i * hours, opening + (i + 1) * hours)
                     for i, slug in enumerate(slugs)],
            items=items, note=note, valid_until=now + timedelta(days=7),
            by_user=users[REQUEST_OPERATOR], now=now)
    return made


# A dataset delivered to a university: the SME consents to sharing one trial of the history
# under the agreement that covers it. (SME, equipment of the trial, agreement, consented by)
SHARED_TRIAL = ("precisionparts", "haas-vf2",
                "AutoWorks × Tsinghua: machining and additive trials",
                "lead@precisionparts.example")


def seed_shared_dataset(orgs: dict[str, Organization], equipment: dict[str, Equipment],
                        users: dict) -> int:
    """The SME's consent (``sharing.grant_consent``) and the release it makes due
    (``sharing.schedule_due_releases``), with its data package built as the delivery
    builds it, so the university's datasets list it at once. Sending it is the outbox's
    work: the demo university's receiver is this very service, up once ``make run`` is."""
    sme, slug, title, email = SHARED_TRIAL
    agreement = SharingAgreement.objects.filter(title=title, revoked_at__isnull=True).first()
    trial = (Trial.objects.filter(booking__equipment=equipment[slug],
                                  booking__organization=orgs[sme],
                                  status=Trial.Status.COLLECTED)
             .order_by("booking__start").first())
    if agreement is None or trial is None:
        return 0
    if not trial.releases.filter(agreement=agreement).exists():
        sharing.grant_consent(trial=trial, agreement_id=agreement.pk, organization=orgs[sme],
                              by_user=users[email])
        sharing.schedule_due_releases(trial_id=trial.pk)
    release = trial.releases.filter(agreement=agreement, sha256="",
                                    status=DatasetRelease.Status.PENDING).first()
    if release is None:
        return 0
    with transaction.atomic():
        ReleaseDelivery().prepare(release.message, timezone.now())
    return 1


def replace_demo_keys(orgs: dict[str, Organization]) -> dict[str, str]:
    """One fresh key per organisation; earlier demo keys are deleted, so the number of
    keys stays the same however often the demo is seeded."""
    keys = {}
    for slug, org in orgs.items():
        OrganizationAPIKey.objects.filter(organization=org, name=DEMO_KEY_NAME).delete()
        _, keys[slug] = create_api_key(organization=org, name=DEMO_KEY_NAME)
    return keys


class Command(BaseCommand):
    help = (
        "Create or update the demo data (organisations, hubs, equipment, users). Idempotent: "
        "a second run changes nothing, except that each run deletes the organisations' API "
        f"keys named {DEMO_KEY_NAME!r} and prints a new one per organisation (keys are stored "
        "hashed and cannot be shown again). --no-keys leaves keys alone."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-keys", action="store_true",
                            help="do not replace and print the demo API keys")

    def handle(self, *args, no_keys: bool = False, **options):
        with transaction.atomic():
            seed_catalog_terms()
            orgs = seed_organizations()
            hubs = seed_hubs(orgs)
            equipment = seed_equipment(hubs)
            seed_catalogue_media(equipment)
            users = seed_users(orgs)
            seed_qualifications(users, equipment)
            seed_money(orgs, hubs, equipment, users[STAFF_EMAIL])
            seed_agreements(orgs, hubs)
            seed_history(orgs, equipment, users)
            seed_plant_trials(orgs, equipment, users)
            seed_pending_request(orgs, equipment, users)
            seed_service_requests(orgs, hubs, equipment, users)
            seed_shared_dataset(orgs, equipment, users)
            keys = {} if no_keys else replace_demo_keys(orgs)
        self.print_logins(orgs)
        if keys:
            self.stdout.write(f"\nAPI keys (named {DEMO_KEY_NAME!r}; shown only now):")
            for slug, key in keys.items():
                self.stdout.write(f"  {slug:<16} {key}")
        self.stdout.write(self.style.SUCCESS(
            f"\nDemo ready: {len(orgs)} organisations, {len(hubs)} hubs, "
            f"{len(equipment)} pieces of equipment."))

    def print_logins(self, orgs: dict[str, Organization]) -> None:
        rows = [(STAFF_EMAIL, "platform staff (admin console)", "superuser")]
        rows += [(email, orgs[slug].name, role) for email, (slug, role) in USERS.items()]
        self.stdout.write(f"Demo logins (password {DEMO_PASSWORD!r} for all):")
        width = max(len(r[0]) for r in rows)
        for email, org_name, role in rows:
            self.stdout.write(f"  {email:<{width}}  {org_name:<36} {role}")
