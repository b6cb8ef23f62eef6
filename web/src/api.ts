// The one Connect client of the view. `shoal dashboard` serves the page and
// forwards these calls to a manager with its admin identity, so the page
// calls its own origin.
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { ControlService } from "./gen/shoal/v1/control_pb";

export type Control = Client<typeof ControlService>;

export function newControl(baseUrl: string): Control {
  // Binary: a field this build does not know (a newer manager) is kept as
  // unknown instead of failing the JSON parse.
  return createClient(ControlService, createConnectTransport({ baseUrl, useBinaryFormat: true }));
}
