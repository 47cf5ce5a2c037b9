// Lambda handler for the HTTP API: create, list, get, update and delete a user's items in DynamoDB.
import { randomUUID } from "node:crypto";
import { ConditionalCheckFailedException, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";

// The SDK picks up region, credentials and AWS_ENDPOINT_URL(_DYNAMODB) from the environment.
const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));

type Result = APIGatewayProxyStructuredResultV2;
type Body = Record<string, unknown>;

const json = (statusCode: number, body: unknown): Result => ({
  statusCode,
  headers: { "Content-Type": "application/json", "Access-Control-Allow-Origin": "*" },
  body: JSON.stringify(body),
});

class ClientError extends Error {}

function parseBody(event: APIGatewayProxyEventV2): Body {
  if (!event.body) return {};
  const text = event.isBase64Encoded ? Buffer.from(event.body, "base64").toString("utf8") : event.body;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ClientError("Invalid JSON in request body");
  }
  return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Body) : {};
}

const nonEmptyString = (value: unknown): value is string => typeof value === "string" && value.trim() !== "";

export const handler = async (event: APIGatewayProxyEventV2): Promise<Result> => {
  const TableName = process.env.TABLE_NAME;
  const method = event.requestContext.http.method;
  const { userId, itemId } = event.queryStringParameters ?? {};
  if (!userId) return json(400, { error: "Missing userId parameter" });

  try {
    switch (method) {
      case "GET": {
        if (itemId) {
          const { Item } = await db.send(new GetCommand({ TableName, Key: { userId, itemId } }));
          return Item ? json(200, Item) : json(404, { error: "Item not found" });
        }
        const items: Body[] = [];
        let ExclusiveStartKey: Body | undefined;
        do {
          const page = await db.send(
            new QueryCommand({
              TableName,
              KeyConditionExpression: "userId = :userId",
              ExpressionAttributeValues: { ":userId": userId },
              ExclusiveStartKey,
            }),
          );
          items.push(...(page.Items ?? []));
          ExclusiveStartKey = page.LastEvaluatedKey;
        } while (ExclusiveStartKey);
        return json(200, { items });
      }

      case "POST": {
        const { title, status } = parseBody(event);
        if (!nonEmptyString(title)) return json(400, { error: "Missing title in request body" });
        const now = Date.now();
        const item = {
          userId,
          // Epoch millis first so ids sort by creation time; the random suffix keeps same-millisecond ids apart.
          itemId: `item-${now}-${randomUUID().replaceAll("-", "").slice(0, 12)}`,
          title,
          status: nonEmptyString(status) ? status : "pending",
          createdAt: new Date(now).toISOString(),
        };
        await db.send(
          new PutCommand({ TableName, Item: item, ConditionExpression: "attribute_not_exists(itemId)" }),
        );
        return json(201, item);
      }

      case "DELETE": {
        if (!itemId) return json(400, { error: "Missing itemId parameter" });
        await db.send(new DeleteCommand({ TableName, Key: { userId, itemId } }));
        return json(200, { deleted: true });
      }

      case "PATCH": {
        if (!itemId) return json(400, { error: "Missing itemId parameter" });
        const { status } = parseBody(event);
        if (!nonEmptyString(status)) return json(400, { error: "Missing status in request body" });
        try {
          const { Attributes } = await db.send(
            new UpdateCommand({
              TableName,
              Key: { userId, itemId },
              UpdateExpression: "SET #status = :status, updatedAt = :updatedAt",
              ConditionExpression: "attribute_exists(itemId)",
              ExpressionAttributeNames: { "#status": "status" },
              ExpressionAttributeValues: { ":status": status, ":updatedAt": new Date().toISOString() },
              ReturnValues: "ALL_NEW",
            }),
          );
          return json(200, Attributes);
        } catch (err) {
          if (err instanceof ConditionalCheckFailedException) return json(404, { error: "Item not found" });
          throw err;
        }
      }

      default:
        return json(405, { error: "Method not allowed" });
    }
  } catch (err) {
    if (err instanceof ClientError) return json(400, { error: err.message });
    console.error("Unhandled error", err);
    return json(500, { error: "Internal server error" });
  }
};
