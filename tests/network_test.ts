// Runs the integration suite against every adapter this runtime supports.
import { networkSuite } from "./_network_suite.ts";
import { framingSuite } from "./_framing_suite.ts";
import { requestIdSuite } from "./_request_id_suite.ts";
import { poolSuite } from "./_pool_suite.ts";
import { drainNoticeSuite } from "./_drain_notice_suite.ts";
import { availableNetworks } from "./_runtime.ts";

for (const [name, network] of await availableNetworks()) {
  networkSuite(name, network);
  framingSuite(name, network);
  requestIdSuite(name, network);
  poolSuite(name, network);
  drainNoticeSuite(name, network);
}
