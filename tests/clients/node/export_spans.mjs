// Exports spans to the console with the real OpenTelemetry Node.js SDK through one of its OTLP/HTTP exporters
// (both send `Transfer-Encoding: chunked` with no Content-Length). Used by the tests; not part of the console.
//
//   node export_spans.mjs --url http://127.0.0.1:PORT/v1/traces --token TOKEN --format proto|json
//        [--compression gzip|none] [--traces N] [--spans-per-trace N] [--service NAME]
//        [--job NAME --namespace NS --execution ID] [--batch-size N]
//
// Prints one JSON line: {"trace_ids": [...], "spans": N, "exports": N, "result": "ok"|"error", "error": "..."}.
// "result" is what the exporter itself reports: "ok" means the console answered 2xx to every export.
import { context, SpanStatusCode, trace } from "@opentelemetry/api";
import { OTLPTraceExporter as JsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    token: { type: "string" },
    format: { type: "string", default: "proto" },
    compression: { type: "string", default: "none" },
    traces: { type: "string", default: "1" },
    "spans-per-trace": { type: "string", default: "3" },
    service: { type: "string", default: "node-worker" },
    job: { type: "string", default: "" },
    namespace: { type: "string", default: "" },
    execution: { type: "string", default: "" },
    "batch-size": { type: "string", default: "512" },
  },
});

const Exporter = args.format === "json" ? JsonExporter : ProtoExporter;
const exporter = new Exporter({
  url: args.url,
  headers: { Authorization: `Bearer ${args.token}` },
  compression: args.compression === "gzip" ? "gzip" : "none",
  timeoutMillis: 15000,
});
const results = [];
const recording = {
  export(spans, done) {
    exporter.export(spans, (result) => {
      results.push(result);
      done(result);
    });
  },
  shutdown: () => exporter.shutdown(),
  forceFlush: () => exporter.forceFlush(),
};

const resource = { "service.name": args.service };
if (args.job) resource["job.name"] = args.job;
if (args.namespace) resource["job.namespace"] = args.namespace;
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes(resource),
  spanProcessors: [new BatchSpanProcessor(recording, { maxExportBatchSize: Number(args["batch-size"]), scheduledDelayMillis: 50 })],
});
const tracer = provider.getTracer("jobtrace-tests", "1.0.0");

const traceIds = [];
const perTrace = Number(args["spans-per-trace"]);
let spans = 0;
for (let t = 0; t < Number(args.traces); t++) {
  const attributes = args.execution ? { "job.execution.id": args.execution, "job.shard.id": `shard-${t}` } : {};
  const root = tracer.startSpan(`shard ${t}`, { attributes });
  traceIds.push(root.spanContext().traceId);
  const parent = trace.setSpan(context.active(), root);
  for (let s = 1; s < perTrace; s++) {
    const child = tracer.startSpan(`PUT /accounts/${1000000 + t}`, { attributes: { step: s } }, parent);
    if (t === 0 && s === perTrace - 1) child.setStatus({ code: SpanStatusCode.ERROR, message: "field too long" });
    child.end();
    spans++;
  }
  root.end();
  spans++;
}

let error = "";
try {
  await provider.forceFlush();
  await provider.shutdown();
} catch (exc) {
  error = String(exc);
}
const failed = results.filter((r) => r.code !== 0);
if (failed.length && !error) error = String(failed[0].error);
console.log(
  JSON.stringify({
    trace_ids: traceIds,
    spans,
    exports: results.length,
    result: failed.length || error ? "error" : "ok",
    error,
  }),
);
