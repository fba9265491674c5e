from django.contrib import admin

from jobs.models import Alert as AlertModel
from jobs.models import AlertLink, ApiToken, Execution, Job, Membership, Message, Namespace, Shard


@admin.register(Namespace)
class NamespaceAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "namespace", "role"]
    list_filter = ["role", "namespace"]
    list_select_related = ["user", "namespace"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["hint", "namespace", "name", "scopes", "created_at", "last_used_at", "revoked_at"]
    list_select_related = ["namespace"]
    readonly_fields = ["hint", "digest", "created_at", "last_used_at"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["name", "namespace", "kind", "schedule", "sample_rate"]
    list_filter = ["kind", "namespace"]
    list_select_related = ["namespace"]
    search_fields = ["name"]


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    list_display = ["execution_id", "job", "status", "trigger", "started_at", "duration_ms", "attempt"]
    list_filter = ["status", "trigger"]
    list_select_related = ["job", "job__namespace"]
    search_fields = ["execution_id", "trace_id", "correlation_id"]
    raw_id_fields = ["job", "namespace"]


@admin.register(Shard)
class ShardAdmin(admin.ModelAdmin):
    list_display = ["shard_id", "execution", "status", "index", "started_at", "duration_ms"]
    list_filter = ["status"]
    list_select_related = ["execution", "execution__job"]
    search_fields = ["shard_id", "trace_id"]
    raw_id_fields = ["execution", "namespace"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["message_id", "event_type", "correlation_id", "causation_id", "published_at", "namespace"]
    search_fields = ["message_id", "correlation_id", "causation_id", "trace_id"]
    list_select_related = ["namespace"]


class AlertLinkInline(admin.TabularInline):
    model = AlertLink
    raw_id_fields = ["execution", "shard"]
    extra = 0


@admin.register(AlertModel)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "source", "fingerprint", "starts_at", "ends_at", "namespace"]
    list_filter = ["status", "source"]
    search_fields = ["name", "fingerprint"]
    list_select_related = ["namespace"]
    inlines = [AlertLinkInline]
