// Names and short forms of the API's values, as the CLI prints them.
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  NodeAvailability,
  NodeRole,
  NodeState,
  PluginKind,
  ServiceSchema,
  TaskState,
  type PortConfig,
  type Service,
} from "./gen/shoal/v1/objects_pb";

// enumName turns an enum value into its lower-case short name (RUNNING -> running).
function enumName(e: Record<number, string>, v: number): string {
  return (e[v] ?? String(v)).toLowerCase();
}

export const taskState = (v: TaskState) => enumName(TaskState, v);
export const nodeState = (v: NodeState) => enumName(NodeState, v);
export const availability = (v: NodeAvailability) => enumName(NodeAvailability, v);
export const role = (v: NodeRole) => enumName(NodeRole, v);
export const pluginKind = (v: PluginKind) => enumName(PluginKind, v);

export function shortId(id: string): string {
  return id.slice(0, 12);
}

export function ports(ps: PortConfig[]): string {
  return ps.map((p) => `${p.publishedPort || "*"}->${p.targetPort}/${p.protocol || "tcp"}`).join(", ");
}

// ago says how long ago t was, in the largest whole unit.
export function ago(t: Timestamp | undefined, now = Date.now()): string {
  if (!t) return "";
  const s = Math.max(0, Math.round((now - timestampDate(t).getTime()) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

// updateStatus says where a service's rolling update stands ("" when it has
// none). It reads Service.update_status through the descriptor, so the view
// builds against an API with or without the field and shows it when present.
export function updateStatus(s: Service): string {
  const f = ServiceSchema.fields.find((x) => x.name === "update_status");
  if (f?.fieldKind !== "message") return "";
  const st = (s as unknown as Record<string, { state?: number; message?: string } | undefined>)[f.localName];
  if (!st) return "";
  const stateField = f.message.fields.find((x) => x.name === "state");
  const state = stateField?.fieldKind === "enum" ? stateField.enum.values.find((v) => v.number === st.state)?.localName : "";
  return [state?.toLowerCase().replace(/_/g, " "), st.message].filter(Boolean).join(": ");
}
