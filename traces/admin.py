from django.contrib import admin

from traces.models import Span, SpanLink, Trace, TraceService


@admin.register(Trace)
class TraceAdmin(admin.ModelAdmin):
    list_display = ["trace_id", "root_service", "root_name", "span_count", "error_count", "namespace"]
    search_fields = ["trace_id", "root_name"]
    list_select_related = ["namespace"]
    raw_id_fields = ["job", "execution", "shard", "namespace"]


@admin.register(Span)
class SpanAdmin(admin.ModelAdmin):
    list_display = ["span_id", "trace_id", "service", "name", "status_code", "duration_ns"]
    search_fields = ["trace_id", "span_id", "name"]
    list_filter = ["status_code", "kind"]
    raw_id_fields = ["execution", "shard", "namespace"]


@admin.register(TraceService)
class TraceServiceAdmin(admin.ModelAdmin):
    list_display = ["trace", "service", "span_count", "error_count"]
    raw_id_fields = ["trace", "namespace"]


@admin.register(SpanLink)
class SpanLinkAdmin(admin.ModelAdmin):
    list_display = ["trace_id", "span_id", "linked_trace_id", "linked_span_id", "ref_type"]
    search_fields = ["trace_id", "linked_trace_id"]
